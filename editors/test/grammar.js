// Tokenizes .amlsec files with vscode-textmate and vscode-oniguruma (the
// engine VS Code and GitHub's highlighter family use) and checks:
//  - every file given ends with the rule stack back at the top (no string,
//    comment, map, interpolation or heredoc left open by the grammar);
//  - sample.amlsec gets the expected scope on each construct.
// Usage: node grammar.js GRAMMAR SAMPLE [FILE...]
"use strict";
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const vsctm = require("vscode-textmate");

const [grammarPath, samplePath, ...files] = process.argv.slice(2);
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")).buffer;

async function main() {
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.amlsec");
  if (!grammar) throw new Error("the grammar did not load");

  const tokenize = (text) => {
    let stack = vsctm.INITIAL;
    const out = [];
    for (const line of text.split("\n")) {
      const r = grammar.tokenizeLine(line, stack);
      for (const t of r.tokens) out.push({ text: line.substring(t.startIndex, t.endIndex), scopes: t.scopes });
      stack = r.ruleStack;
    }
    return { tokens: out, depth: stack.depth };
  };

  let failures = 0;
  for (const f of files) {
    const { depth } = tokenize(fs.readFileSync(f, "utf8"));
    if (depth !== 1) {
      failures++;
      console.log(`FAIL ${f}: ends inside a construct (rule stack depth ${depth})`);
    }
  }

  const { tokens } = tokenize(fs.readFileSync(samplePath, "utf8"));
  const want = [
    ["# a comment", "comment.line.number-sign"],
    ["// another", "comment.line.double-slash"],
    ["comment", "comment.block"],
    ["variable", "keyword.other.block"],
    ['"env"', "entity.name.label"],
    ["settings", "keyword.other.block"],
    ["subscription", "variable.other.member"],
    ["env", "support.function"],
    ["locals", "keyword.other.block"],
    ["local", "variable.language"],
    ["resource_group", "entity.name.type"],
    ['"ml"', "entity.name.label"],
    ["${", "punctuation.section.interpolation.begin"],
    ["var", "variable.language"],
    ["team", "variable.other.member"],
    ['"cost center"', "variable.other.member"],
    ["42", "constant.numeric.integer"],
    ["0.25", "constant.numeric.float"],
    ["%{", "punctuation.section.directive.begin"],
    ["endif", "keyword.control.directive"],
    ["1.5e-2", "constant.numeric.float"],
    ["existing", "keyword.other.existing"],
    ["subnet", "entity.name.type"],
    ["resource_group.ml", "variable.other.reference"],
    ["true", "constant.language"],
    ["EOT", "keyword.control.heredoc-token"],
    ["$${", "constant.character.escape"],
    ["lower", "support.function"],
    ["lifecycle", "keyword.other.block"],
    ["prevent_destroy", "variable.other.member"],
    ["==", "keyword.operator"],
    ["null", "constant.language"],
    ["count", "variable.language"],
    ["for", "keyword.control"],
    ["in", "keyword.control"],
    ["if", "keyword.control"],
    ["=>", "keyword.operator"],
    ["*", "keyword.operator"],
    ["+", "keyword.operator"],
    ["%", "keyword.operator"],
    ["matrix.0.1", "variable.other.reference"],
  ];
  for (const [text, scope] of want) {
    const t = tokens.find((x) => x.text.trim() === text && x.scopes.some((s) => s.startsWith(scope)));
    if (!t) {
      failures++;
      const seen = tokens.filter((x) => x.text.trim() === text).map((x) => x.scopes.join(" ")).join(" | ");
      console.log(`FAIL sample: '${text}' is not ${scope} (seen: ${seen || "no such token"})`);
    }
  }
  // legacy index steps (a.0.1 is a[0][1]) are part of the reference, never a decimal
  for (const t of tokens.filter((x) => x.scopes.some((s) => s.startsWith("constant.numeric")))) {
    if (/^\.?0\.1$/.test(t.text.trim())) {
      failures++;
      console.log(`FAIL sample: '${t.text}' of a legacy index step is ${t.scopes.join(" ")}`);
    }
  }
  const literal = tokens.find((x) => x.text.includes("literal"));
  if (!literal || !literal.scopes.some((s) => s.startsWith("string.unquoted.heredoc"))) {
    failures++;
    console.log("FAIL sample: heredoc body is not a string");
  }
  console.log(failures ? `${failures} failed` : `grammar: ok (${files.length} files end at the top level)`);
  process.exit(failures ? 1 : 0);
}
main().catch((e) => { console.error(e); process.exit(1); });
