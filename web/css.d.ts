// Style sheets are bundled by esbuild (scripts/build-web.js) into assets/app.css; for the type checker they are modules without exports.
declare module '*.css';
