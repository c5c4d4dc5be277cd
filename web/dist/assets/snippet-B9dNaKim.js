import{R as p,bk as t,S as c}from"./index-DIbS73nR.js";function b(s,a,...e){var r=new c(s);p(()=>{const n=a()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{b as s};
