import{Z as p,bI as t,_ as c}from"./index-C4yLu9-b.js";function b(s,a,...e){var r=new c(s);p(()=>{const n=a()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{b as s};
