import{a2 as p,b5 as t,b6 as c}from"./index-C_3Ycp83.js";function i(a,s,...e){var r=new c(a);p(()=>{const n=s()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{i as s};
