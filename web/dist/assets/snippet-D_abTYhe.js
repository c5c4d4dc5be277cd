import{ai as o,bh as p,bi as t}from"./index-D8WfeCsg.js";function b(a,s,...e){var r=new t(a);o(()=>{const n=s()??null;r.ensure(n,n&&(i=>n(i,...e)))},p)}export{b as s};
