// The lint that keeps user-written text out of the DOM's markup. Every place where a string
// becomes markup (innerHTML, outerHTML, insertAdjacentHTML, Leaflet's tooltips, popups
// and divIcon html) must be given an html`…` template (which escapes every value that is
// not itself a template), "" , a conditional of those, or a call to a function whose every
// return is one of those. A URL attribute that starts with data goes through safeUrl(),
// raw() takes only a literal, and the other ways to parse markup are not used at all.
// A small tokenizer (strings, templates with their ${…}, regexes, comments) so that the
// check reads code, not text.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const PWA = fileURLToPath(new URL("..", import.meta.url));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory()
    ? files(join(dir, entry.name)) : [join(dir, entry.name)]))
    .filter((f) => f.endsWith(".js"));
}

// ---- tokens ---------------------------------------------------------------------------
const PUNCT = ["...", "===", "!==", "**=", "??=", "||=", "&&=", ">>>", "=>", "==", "!=", "<=",
  ">=", "&&", "||", "??", "?.", "+=", "-=", "*=", "/=", "%=", "++", "--", "**", "<<", ">>"];
const REGEX_AFTER = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new",
  "delete", "void", "throw", "instanceof", "yield", "await"]);

// Tokens of `src` from `pos`; with `nested`, stops at the `}` closing a template's ${.
function tokenize(src, pos = 0, nested = false) {
  const out = [];
  let depth = 0;
  const prev = () => out[out.length - 1];
  const regexAllowed = () => {
    const p = prev();
    if (!p) return true;
    if (p.type === "id") return REGEX_AFTER.has(p.value);
    if (p.type === "punct") return ![")", "]"].includes(p.value);
    return false;
  };
  while (pos < src.length) {
    const c = src[pos];
    if (/\s/.test(c)) { pos++; continue; }
    if (src.startsWith("//", pos)) { pos = src.indexOf("\n", pos); if (pos < 0) pos = src.length; continue; }
    if (src.startsWith("/*", pos)) { pos = src.indexOf("*/", pos) + 2; continue; }
    const start = pos;
    if (c === '"' || c === "'") {
      pos++;
      while (src[pos] !== c) pos += src[pos] === "\\" ? 2 : 1;
      pos++;
      out.push({ type: "str", value: src.slice(start + 1, pos - 1), pos: start });
    } else if (c === "`") {
      const strings = [];
      const exprs = [];
      let chunk = "";
      pos++;
      while (src[pos] !== "`") {
        if (src[pos] === "\\") { chunk += src.slice(pos, pos + 2); pos += 2; continue; }
        if (src.startsWith("${", pos)) {
          strings.push(chunk);
          chunk = "";
          const inner = tokenize(src, pos + 2, true);
          exprs.push(inner.tokens);
          pos = inner.end + 1;
          continue;
        }
        chunk += src[pos++];
      }
      strings.push(chunk);
      pos++;
      out.push({ type: "tpl", strings, exprs, pos: start });
    } else if (c === "/" && regexAllowed()) {
      pos++;
      let inClass = false;
      while (inClass || src[pos] !== "/") {
        if (src[pos] === "\\") pos++;
        else if (src[pos] === "[") inClass = true;
        else if (src[pos] === "]") inClass = false;
        pos++;
      }
      pos++;
      while (/[a-z]/i.test(src[pos])) pos++;
      out.push({ type: "regex", value: src.slice(start, pos), pos: start });
    } else if (/[A-Za-z_$]/.test(c)) {
      while (/[\w$]/.test(src[pos])) pos++;
      out.push({ type: "id", value: src.slice(start, pos), pos: start });
    } else if (/\d/.test(c)) {
      while (/[\w.]/.test(src[pos])) pos++;
      out.push({ type: "num", value: src.slice(start, pos), pos: start });
    } else {
      if (nested && c === "}" && depth === 0) return { tokens: out, end: pos };
      if ("({[".includes(c)) depth++;
      if (")}]".includes(c)) depth--;
      const multi = PUNCT.find((p) => src.startsWith(p, pos));
      const value = multi || c;
      pos += value.length;
      out.push({ type: "punct", value, pos: start });
    }
  }
  return { tokens: out, end: pos };
}

const OPEN = { "(": ")", "[": "]", "{": "}" };
const isP = (tok, value) => tok?.type === "punct" && tok.value === value;

// The index just past the bracket that closes the one at `i`.
function closing(tokens, i) {
  let depth = 0;
  for (let j = i; j < tokens.length; j++) {
    if (tokens[j].type !== "punct") continue;
    if (OPEN[tokens[j].value]) depth++;
    else if (")]}".includes(tokens[j].value)) depth--;
    if (depth === 0) return j + 1;
  }
  return tokens.length;
}

// An expression starting at `i`: up to `;`, a `,` at its own depth, or a closing bracket.
function expression(tokens, i) {
  const out = [];
  while (i < tokens.length) {
    const tok = tokens[i];
    if (tok.type === "punct" && (tok.value === ";" || tok.value === "," || ")]}".includes(tok.value))) break;
    if (tok.type === "punct" && OPEN[tok.value]) {
      const end = closing(tokens, i);
      out.push(...tokens.slice(i, end));
      i = end;
      continue;
    }
    out.push(tok);
    i++;
  }
  return out;
}

// The arguments of the call whose "(" is at `i`.
function args(tokens, i) {
  const list = [];
  let j = i + 1;
  while (j < tokens.length && !isP(tokens[j], ")")) {
    const arg = expression(tokens, j);
    list.push(arg);
    j += arg.length;
    if (isP(tokens[j], ",")) j++;
    if (!arg.length) break;
  }
  return list;
}

// Split `cond ? a : b` at its top level; null when the expression is not a conditional.
function conditional(tokens) {
  let depth = 0;
  let question = -1;
  let nestedQ = 0;
  for (let j = 0; j < tokens.length; j++) {
    const tok = tokens[j];
    if (tok.type !== "punct") continue;
    if (OPEN[tok.value]) depth++;
    else if (")]}".includes(tok.value)) depth--;
    else if (depth === 0 && tok.value === "?") {
      if (question < 0) question = j;
      else nestedQ++;
    } else if (depth === 0 && tok.value === ":" && question >= 0) {
      if (nestedQ) nestedQ--;
      else return [tokens.slice(question + 1, j), tokens.slice(j + 1)];
    }
  }
  return null;
}

// ---- what counts as safe markup -------------------------------------------------------
// Functions of the app by name, with the expressions they return (every definition of a
// name must qualify: names are not resolved across modules).
const sources = new Map(files(join(PWA, "js")).map((f) => [f, readFileSync(f, "utf8")]));
function define(definitions, source) {
  const tokens = tokenize(source).tokens;
  tokens.forEach((tok, i) => {
    if (tok.type !== "id" || tok.value !== "function" || tokens[i + 1]?.type !== "id") return;
    const name = tokens[i + 1].value;
    const body = closing(tokens, i + 2); // the parameters
    const end = closing(tokens, body);
    const returns = [];
    for (let j = body; j < end; j++) {
      if (tokens[j].type === "id" && tokens[j].value === "return") returns.push(expression(tokens, j + 1));
    }
    definitions.set(name, [...(definitions.get(name) || []), returns]);
  });
  return definitions;
}
const definitions = new Map();
for (const source of sources.values()) define(definitions, source);

function safeMarkup(tokens, defs, seen = new Set()) {
  let e = tokens;
  // x.toString() of safe markup is the same markup.
  const n = e.length;
  if (n > 4 && isP(e[n - 4], ".") && e[n - 3].value === "toString" && isP(e[n - 2], "(") && isP(e[n - 1], ")")) {
    e = e.slice(0, n - 4);
  }
  if (isP(e[0], "(") && closing(e, 0) === e.length) return safeMarkup(e.slice(1, -1), defs, seen);
  const branches = conditional(e);
  if (branches) return branches.every((b) => safeMarkup(b, defs, seen));
  if (e.length === 2 && e[0].type === "id" && e[0].value === "html" && e[1].type === "tpl") return true;
  if (e.length === 1 && e[0].type === "str" && e[0].value === "") return true;
  // A call to the app's own function that returns only safe markup.
  if (e.length >= 3 && e[0].type === "id" && isP(e[1], "(") && closing(e, 1) === e.length) {
    const name = e[0].value;
    const found = defs.get(name);
    if (!found || seen.has(name)) return false;
    const inner = new Set([...seen, name]);
    return found.every((returns) => returns.length && returns.every((r) => safeMarkup(r, defs, inner)));
  }
  return false;
}

const SINK_CALLS = { insertAdjacentHTML: 1, bindTooltip: 0, bindPopup: 0, setContent: 0,
  setTooltipContent: 0, setPopupContent: 0 };
const FORBIDDEN = new Set(["write", "writeln", "DOMParser", "srcdoc", "createContextualFragment",
  "parseFromString", "setHTMLUnsafe"]);
const URL_PROPERTIES = new Set(["href", "src", "action", "formaction", "poster"]);
// A URL value that cannot carry data as a scheme: a string literal, or safeUrl(…).
const safeUrlValue = (e) => (e.length === 1 && e[0].type === "str")
  || (e[0]?.value === "safeUrl" && isP(e[1], "(") && closing(e, 1) === e.length);
const URL_ATTRIBUTE = /(^|\s)(href|src|action|formaction|poster|xlink:href)\s*=\s*["']?$/i;

// Every way markup is written in `tokens` (recursing into templates' ${…}) that breaks a rule.
function problems(tokens, file, source, defs) {
  const found = [];
  const where = (tok) => `${file}:${source.slice(0, tok.pos).split("\n").length}`;
  tokens.forEach((tok, i) => {
    if (tok.type === "tpl") {
      const tagged = tokens[i - 1]?.type === "id" && tokens[i - 1].value === "html";
      tok.exprs.forEach((expr, k) => {
        found.push(...problems(expr, file, source, defs));
        // href="${…}": a URL from data could be javascript:.
        if (tagged && URL_ATTRIBUTE.test(tok.strings[k]) && !safeUrlValue(expr)) {
          found.push(`${where(tok)}: a URL attribute starts with data: use safeUrl()`);
        }
      });
      return;
    }
    if (tok.type !== "id") return;
    const after = tokens[i - 1];
    const member = isP(after, ".") || isP(after, "?.");
    if ((tok.value === "innerHTML" || tok.value === "outerHTML") && isP(tokens[i + 1], ":")) {
      // Object.assign(node, { innerHTML: … })
      if (!safeMarkup(expression(tokens, i + 2), defs)) {
        found.push(`${where(tok)}: ${tok.value} is given something that is not an html\`\` template`);
      }
    } else if (URL_PROPERTIES.has(tok.value) && member && isP(tokens[i + 1], "=")
        && tokens[i - 2]?.value !== "dataset") {
      // a.href = …: a literal, or data through safeUrl().
      if (!safeUrlValue(expression(tokens, i + 2))) found.push(`${where(tok)}: .${tok.value} from data: use safeUrl()`);
    } else if (tok.value === "setAttribute" && member && isP(tokens[i + 1], "(")) {
      const [name, value] = args(tokens, i + 1);
      const attribute = name?.length === 1 && name[0].type === "str" ? name[0].value.toLowerCase() : null;
      if (attribute === null || /^on|^srcdoc$/.test(attribute)
          || (URL_PROPERTIES.has(attribute) && !safeUrlValue(value || []))) {
        found.push(`${where(tok)}: setAttribute of ${attribute ?? "a computed name"} with data`);
      }
    } else if ((tok.value === "innerHTML" || tok.value === "outerHTML") && member) {
      const op = tokens[i + 1];
      if (isP(op, "=") || isP(op, "+=")) {
        if (op.value === "+=" || !safeMarkup(expression(tokens, i + 2), defs)) {
          found.push(`${where(tok)}: ${tok.value} is given something that is not an html\`\` template`);
        }
      }
    } else if (member && Object.hasOwn(SINK_CALLS, tok.value) && isP(tokens[i + 1], "(")) {
      const arg = args(tokens, i + 1)[SINK_CALLS[tok.value]];
      if (!arg || !safeMarkup(arg, defs)) found.push(`${where(tok)}: ${tok.value} is given something that is not an html\`\` template`);
    } else if (tok.value === "html" && isP(tokens[i + 1], ":")) {
      if (!safeMarkup(expression(tokens, i + 2), defs)) found.push(`${where(tok)}: divIcon html is not an html\`\` template`);
    } else if (tok.value === "raw" && isP(tokens[i + 1], "(") && !member
        && tokens[i - 1]?.value !== "function") {
      const arg = args(tokens, i + 1);
      if (!(arg.length === 1 && arg[0].length === 1 && arg[0][0].type === "str")) {
        found.push(`${where(tok)}: raw() takes a string literal only`);
      }
    } else if (FORBIDDEN.has(tok.value) && (member || tok.value === "DOMParser")) {
      found.push(`${where(tok)}: ${tok.value} parses markup: build it with html\`\` instead`);
    } else if (tok.value === "Safe" && !file.endsWith("ui.js")) {
      found.push(`${where(tok)}: Safe markup is made by html\`\` only`);
    }
  });
  return found;
}

function lint(source, file = "snippet.js", defs = define(new Map(definitions), source)) {
  return problems(tokenize(source).tokens, file, source, defs);
}

test("no markup sink in the app is given anything but escaped markup", () => {
  const found = [];
  for (const [file, source] of sources) found.push(...lint(source, relative(PWA, file), definitions));
  assert.deepEqual(found, []);
});

test("the lint finds what it is meant to find", () => {
  const bad = [
    "el.innerHTML = `<b>${name}</b>`;",
    "el.innerHTML = '<b>' + name + '</b>';",
    "el.innerHTML = rows.join(\"\");",
    "el.innerHTML = html`<b>${a}</b>` + name;",
    "el.innerHTML += html`<b>${a}</b>`;",
    "el.outerHTML = words;",
    "el.insertAdjacentHTML(\"afterbegin\", cards.join(\"\"));",
    "pin.bindTooltip(`${t(\"caseOnMap\")} · ${item.address || \"\"}`, { permanent: true });",
    "pin.bindPopup(\"<b>\" + p.subject + \"</b>\");",
    "popup.setContent(p.subject);",
    "L.divIcon({ className: \"x\", html: `<span>${n}</span>` });",
    "el.innerHTML = ok ? html`<b>${a}</b>` : `<i>${b}</i>`;",
    "x = html`<a href=\"${item.url}\">${t(\"open\")}</a>`;",
    "x = html`<img src=\"${item.url}\">`;",
    "x = raw(item.subject);",
    "document.write(html`<b></b>`);",
    "new DOMParser().parseFromString(text, \"text/html\");",
    "el.innerHTML = notMarkup(x);",
    "Object.assign(node, { innerHTML: `<b>${name}</b>` });",
    "a.href = item.url;",
    "img.src = `/x/${id}`;",
    "a.setAttribute(\"href\", item.url);",
    "a.setAttribute(name, item.url);",
    "a.setAttribute(\"onclick\", \"x()\");",
  ];
  for (const line of bad) assert.equal(lint(line).length >= 1, true, line);
  const good = [
    "el.innerHTML = html`<b>${a}</b>`;",
    "el.innerHTML = html`<b>${a}</b>`.toString();",
    "el.innerHTML = \"\";",
    "el.innerHTML = ok ? html`<b>${a}</b>` : \"\";",
    "el.innerHTML = (ok ? html`<b>${a}</b>` : html`<i>${a}</i>`).toString();",
    "pin.bindTooltip(html`${label} · ${address}`.toString(), { permanent: true });",
    "L.divIcon({ className: \"x\", html: html`<span>${n}</span>`.toString() });",
    "x = html`<a href=\"#/case/${id}\">${t(\"open\")}</a>`;",
    "x = html`<img src=\"${safeUrl(item.url)}\">`;",
    "x = raw('capture=\"environment\"');",
    "const r = /<b>\\//g; el.innerHTML = html`${a}`;",
    "function part(a) { return a ? html`<b>${a}</b>` : \"\"; } el.innerHTML = part(a);",
    "Object.assign(node, { className: \"error\", textContent: errorText(error) });",
    "a.href = safeUrl(url); css.href = \"/vendor/leaflet/leaflet.css\";",
    "node.setAttribute(\"data-case-id\", item.id);",
  ];
  for (const line of good) assert.deepEqual(lint(line), [], line);
});
