import{Q as o,bc as p,R as t}from"./index-DrK-uNq_.js";function b(s,a,...e){var r=new t(s);o(()=>{const n=a()??null;r.ensure(n,n&&(c=>n(c,...e)))},p)}export{b as s};
