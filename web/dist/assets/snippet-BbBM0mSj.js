import{_ as p,bk as t,$ as c}from"./index-DCs9-dkJ.js";function b(s,a,...e){var r=new c(s);p(()=>{const n=a()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{b as s};
