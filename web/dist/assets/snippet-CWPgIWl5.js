import{$ as p,bm as t,a0 as c}from"./index-g9FW8_Ts.js";function b(a,s,...e){var r=new c(a);p(()=>{const n=s()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{b as s};
