import{al as p,bH as t,am as c}from"./index-CVBCA1k-.js";function l(n,s,...e){var r=new c(n);p(()=>{const a=s()??null;r.ensure(a,a&&(o=>a(o,...e)))},t)}export{l as s};
