// Render TeX blocks with KaTeX and report the ones that fail.
//
// Input (stdin): a JSON array of {"tex": string, "display": boolean}.
// Output (stdout): a JSON array of the same length, null for a block that rendered and the
// KaTeX error message for one that did not. Used by tests/test_derivations.py.
"use strict";

const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  input += chunk;
});
process.stdin.on("end", () => {
  const blocks = JSON.parse(input);
  const errors = blocks.map(({ tex, display }) => {
    try {
      katex.renderToString(tex, {
        displayMode: display,
        throwOnError: true,
        // Anything KaTeX would only warn about (non-standard or ambiguous input) is an error.
        strict: "error",
        trust: false,
      });
      return null;
    } catch (err) {
      return String(err.message || err);
    }
  });
  process.stdout.write(JSON.stringify(errors));
});
