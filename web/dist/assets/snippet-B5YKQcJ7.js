import{V as p,bo as t,W as c}from"./index-z-mDzf0c.js";function b(s,a,...e){var r=new c(s);p(()=>{const n=a()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{b as s};
