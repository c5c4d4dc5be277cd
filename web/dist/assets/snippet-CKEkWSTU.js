import{ad as o,bc as p,bd as t}from"./index-CpXGb9FD.js";function i(a,s,...e){var r=new t(a);o(()=>{const n=s()??null;r.ensure(n,n&&(c=>n(c,...e)))},p)}export{i as s};
