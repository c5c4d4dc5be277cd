import{T as p,bl as t,U as c}from"./index-dq1gdwWk.js";function l(s,a,...e){var r=new c(s);p(()=>{const n=a()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{l as s};
