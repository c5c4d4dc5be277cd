import{U as p,bn as t,V as c}from"./index-DtAlVLYK.js";function b(s,a,...e){var r=new c(s);p(()=>{const n=a()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{b as s};
