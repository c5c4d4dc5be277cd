import{a6 as o,bb as p,bc as t}from"./index-DIoAdX5t.js";function i(a,s,...e){var r=new t(a);o(()=>{const n=s()??null;r.ensure(n,n&&(c=>n(c,...e)))},p)}export{i as s};
