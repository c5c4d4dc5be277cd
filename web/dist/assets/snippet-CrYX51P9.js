import{ab as o,ba as p,bb as t}from"./index-CV3j1eDh.js";function i(n,s,...e){var r=new t(n);o(()=>{const a=s()??null;r.ensure(a,a&&(b=>a(b,...e)))},p)}export{i as s};
