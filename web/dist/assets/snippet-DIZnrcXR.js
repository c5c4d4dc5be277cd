import{ak as p,bH as t,al as c}from"./index-Pv_x6ih0.js";function l(n,s,...e){var r=new c(n);p(()=>{const a=s()??null;r.ensure(a,a&&(o=>a(o,...e)))},t)}export{l as s};
