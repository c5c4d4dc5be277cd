import{aF as p,b8 as t,b9 as c}from"./index-HuXK-ht8.js";function i(a,s,...e){var r=new c(a);p(()=>{const n=s()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{i as s};
