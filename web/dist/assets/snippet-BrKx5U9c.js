import{a2 as p,b5 as t,b6 as c}from"./index-DOZgO9Tk.js";function i(a,s,...e){var r=new c(a);p(()=>{const n=s()??null;r.ensure(n,n&&(o=>n(o,...e)))},t)}export{i as s};
