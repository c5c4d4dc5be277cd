import{ag as p,bf as t,bg as c}from"./index-Dgd0lF35.js";function i(a,s,...e){var r=new c(a);p(()=>{const n=s()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{i as s};
