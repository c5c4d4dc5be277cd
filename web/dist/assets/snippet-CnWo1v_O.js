import{a6 as p,b9 as t,ba as c}from"./index-Dr_XLb1h.js";function i(n,s,...e){var r=new c(n);p(()=>{const a=s()??null;r.ensure(a,a&&(o=>a(o,...e)))},t)}export{i as s};
