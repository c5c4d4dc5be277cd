import{ao as p,bK as t,ap as c}from"./index-DYOGOPjW.js";function b(n,s,...e){var r=new c(n);p(()=>{const a=s()??null;r.ensure(a,a&&(o=>a(o,...e)))},t)}export{b as s};
