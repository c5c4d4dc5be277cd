import{ae as p,bd as t,be as c}from"./index-BRplJm5H.js";function i(a,e,...s){var r=new c(a);p(()=>{const n=e()??null;r.ensure(n,n&&(o=>n(o,...s)))},t)}export{i as s};
