import{ac as o,bb as p,bc as t}from"./index-Yv-wu5BF.js";function i(a,s,...e){var r=new t(a);o(()=>{const n=s()??null;r.ensure(n,n&&(c=>n(c,...e)))},p)}export{i as s};
