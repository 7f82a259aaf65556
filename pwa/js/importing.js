// The sheet import's logic, free of the DOM (node tests run it): the sources' answer, the
// column mapping a sheet starts with and the body that saves it, the unknown values and
// the value tables they go into, the preview's rows by status and page, and how a row's
// reasons and repeat hint read.
import { getLang, t, term } from "./i18n.js";

// Rows rendered at once: 10,000 rows as DOM would freeze a desk browser for seconds.
export const PER_PAGE = 100;
export const STATUSES = ["new", "duplicate", "invalid"];
export const ACCEPT = [".xlsx", ".xls", ".csv"];

// Headers compared as the server does: full-width folded, spaces dropped ("工单编号 " is
// "工单编号", "ＫＴＶ" is "KTV").
export function headerKey(value) {
  return String(value ?? "").normalize("NFKC").replace(/\s+/g, "");
}

export function acceptable(filename) {
  const name = String(filename || "").toLowerCase();
  return ACCEPT.some((ext) => name.endsWith(ext));
}

// {header: field} from whichever way the server lists the headers it recognises:
// {field: [headers]} or {header: field} or [{header, field}].
export function recognisedHeaders(value) {
  const out = new Map();
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item?.header && item?.field) out.set(headerKey(item.header), item.field);
    }
    return out;
  }
  for (const [key, v] of Object.entries(value || {})) {
    if (Array.isArray(v)) for (const header of v) out.set(headerKey(header), key);
    else if (typeof v === "string") out.set(headerKey(key), v);
  }
  return out;
}

// The case fields a column may be mapped to: [{name, zh, en, required}].
function fieldsOf(list) {
  return (list || []).map((f) => (typeof f === "string" ? { name: f } : f))
    .map((f) => ({ ...f, name: f.name || f.field || f.code })).filter((f) => f.name);
}

// GET /api/intake-sources as the screen uses it: the sources, the fields, the headers
// recognised by default (each may sit at the top of the answer or on each source).
export function sourcesOf(answer) {
  const list = Array.isArray(answer) ? answer : answer?.items || answer?.sources || [];
  const top = Array.isArray(answer) ? {} : answer || {};
  const recognised = top.recognised ?? top.recognised_headers ?? top.known_headers
    ?? top.default_headers ?? top.synonyms;
  const sources = list.map((s) => ({
    ...s,
    column_map: s.column_map || {},
    value_maps: s.value_maps || {},
    fields: fieldsOf(s.fields || top.fields),
    recognised: recognisedHeaders(s.recognised ?? s.recognised_headers ?? s.known_headers
      ?? s.default_headers ?? s.synonyms ?? recognised),
  }));
  return { sources, fields: fieldsOf(top.fields || sources[0]?.fields) };
}

// Our own names of the case fields, for a server that names none.
const FIELD_KEYS = { external_ref: "externalRef", received_at: "receivedAt", description: "description",
  address: "address", complainant_name: "complainantName", complainant_phone: "complainantPhone",
  category: "category", unit: "unit", subject: "subject" };

export function fieldName(field, lang = getLang()) {
  if (field?.[lang]) return field[lang];
  if (field?.[`name_${lang}`]) return field[`name_${lang}`];
  const key = FIELD_KEYS[field?.name];
  return key ? t(key) : field?.zh || field?.en || t("impOtherField");
}

export function sourceName(source, lang = getLang()) {
  return (lang === "zh" ? source?.name_zh : source?.name_en) || source?.name_zh || source?.name_en || "";
}

// What each of the sheet's headers maps to at first ({header: field or ""}): the mapping
// the server applied to this preview when it says one (it already weighed the saved one
// and the recognised headers), else the source's saved one, then the headers we
// recognise. A field goes to one column only: the stronger claim, then the first column.
export function initialMapping(headers, { applied, saved, recognised } = {}) {
  const out = Object.fromEntries((headers || []).map((h) => [h, ""]));
  const taken = new Set();
  const byHeader = (map) => new Map(Object.entries(map || {})
    .filter(([, header]) => header).map(([field, header]) => [headerKey(header), field]));
  const tables = applied && Object.keys(applied).length ? [byHeader(applied)]
    : [byHeader(saved), recognised || new Map()];
  for (const table of tables) {
    for (const header of headers || []) {
      const field = table.get(headerKey(header));
      if (!out[header] && field && !taken.has(field)) {
        out[header] = field;
        taken.add(field);
      }
    }
  }
  return out;
}

// {header: field} as the source's column_map ({field: header}), or {errors} when a field
// is given twice or a required field is given none. A field the office took off every
// column (it was `applied`) is saved as "": the server would otherwise fill it again
// from the headers it recognises by default.
export function columnMapBody(mapping, fields = [], applied = {}) {
  const columnMap = {};
  const twice = {};
  for (const [header, field] of Object.entries(mapping || {})) {
    if (!field) continue;
    if (field in columnMap) twice[field] = [...(twice[field] || [columnMap[field]]), header];
    else columnMap[field] = header;
  }
  for (const field of Object.values(applied || {})) {
    if (field && !(field in columnMap)) columnMap[field] = "";
  }
  const missing = fields.filter((f) => f.required && !columnMap[f.name]).map((f) => f.name);
  if (Object.keys(twice).length || missing.length) return { errors: { twice, missing } };
  return { body: { column_map: columnMap } };
}

export function sameMapping(a, b) {
  const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
  return [...keys].every((k) => (a?.[k] || "") === (b?.[k] || ""));
}

// The unknown values of a preview, [{kind, raw, count}], most frequent first, from any of
// [{value|raw, count}], [[raw, count]], ["raw"] or {raw: count}.
export function unknownValues(preview) {
  const out = [];
  for (const [kind, list] of Object.entries(preview?.unknown || {})) {
    const items = Array.isArray(list) ? list : Object.entries(list || {});
    for (const item of items) {
      let raw;
      let count;
      if (Array.isArray(item)) [raw, count] = item;
      else if (item && typeof item === "object") {
        raw = item.value ?? item.raw ?? item.name;
        count = item.count ?? item.rows ?? item.n;
      } else raw = item;
      if (raw == null || raw === "") continue;
      out.push({ kind, raw: String(raw), count: Number(count) || 0 });
    }
  }
  return out.sort((a, b) => b.count - a.count || a.raw.localeCompare(b.raw));
}

// The source's value tables with one more entry: the whole of them is sent, so a server
// that replaces the tables and one that merges them both keep what was there.
export function valueMapsWith(valueMaps, kind, raw, ours) {
  const out = {};
  for (const [k, table] of Object.entries(valueMaps || {})) out[k] = { ...table };
  out[kind] = { ...(out[kind] || {}), [raw]: ours };
  return out;
}

export function countsOf(preview) {
  const c = preview?.counts || {};
  const rows = preview?.rows || [];
  const by = (s) => rows.filter((r) => r.status === s).length;
  return {
    new: c.new ?? by("new"), duplicate: c.duplicate ?? by("duplicate"),
    invalid: c.invalid ?? by("invalid"), repeat: c.repeat ?? rows.filter(isRepeat).length,
  };
}

export function isRepeat(row) {
  return !!row?.repeat;
}

// The rows a filter keeps ("" all, a status, or "repeat"), and one page of them.
export function pageOf(rows, { filter = "", page = 1, perPage = PER_PAGE } = {}) {
  const kept = !filter ? rows || [] : (rows || []).filter((r) => (filter === "repeat" ? isRepeat(r) : r.status === filter));
  const pages = Math.max(1, Math.ceil(kept.length / perPage));
  const at = Math.min(Math.max(1, page), pages);
  const start = (at - 1) * perPage;
  return { items: kept.slice(start, start + perPage), total: kept.length, page: at, pages,
    from: kept.length ? start + 1 : 0, to: Math.min(start + perPage, kept.length) };
}

// A bad row's reasons in the user's language: the server's message, else ours by code;
// with `nameOf`, each after the name of the field it is about ("来电时间：…").
export function reasons(row, lang = getLang(), nameOf = null) {
  return (row?.errors || []).map((e) => {
    const said = (lang === "zh" ? e.message_zh || e.message_en : e.message_en || e.message_zh)
      || (e.code && t(e.code) !== e.code ? t(e.code) : t("impBadRow"));
    const field = nameOf && e.field ? nameOf(e.field) : "";
    // A message that names its field already is said as it is.
    return field && !said.includes(field) ? `${field}${lang === "zh" ? "：" : ": "}${said}` : said;
  });
}

// How many times the subject was complained about, from a repeat hint.
export function repeatCount(hint) {
  if (!hint) return 0;
  if (typeof hint === "number") return hint;
  const n = hint.count ?? hint.complaints ?? hint.total ?? hint.linked_count ?? hint.linked
    ?? hint.earlier_count ?? hint.earlier;
  return Array.isArray(n) ? n.length : Number(n) || 0;
}

export function repeatText(hint) {
  return t("impRepeat").replace("{n}", String(repeatCount(hint)));
}

// {reference: repeat hint} of a preview's rows, kept to name the cases they become.
export function repeatsByRef(preview) {
  const out = new Map();
  for (const row of preview?.rows || []) {
    if (row.repeat && row.case?.external_ref) out.set(row.case.external_ref, row.repeat);
  }
  return out;
}

// {case id: {ref, subject, repeat}} of a confirmed import: looked at again, each created
// row is a duplicate of the case it became (duplicate_of); repeat hints by reference.
export function namedCases(result, preview, hints = new Map()) {
  const ids = new Set(result?.case_ids || []);
  const out = new Map();
  for (const row of preview?.rows || []) {
    // The first row a case came from names it (a reference twice in the file: the second
    // row was invalid, and now reads as a duplicate of the same case).
    if (!row.duplicate_of || !ids.has(row.duplicate_of) || out.has(row.duplicate_of)) continue;
    const ref = row.case?.external_ref || "";
    out.set(row.duplicate_of, { ref, subject: row.case?.subject || "",
      repeat: row.repeat || hints.get(ref) || null });
  }
  return out;
}

// "导入 N 件": the number of new rows, said in the button.
export function confirmLabel(n) {
  return t("impConfirm").replace("{n}", String(n));
}

// The preview's category shown by its name, a unit by its name when we know it.
export function valueName(kind, value, units = new Map()) {
  if (value == null || value === "") return "";
  if (kind === "category") return term(value);
  if (kind === "unit") return units.get(value) || String(value);
  return String(value);
}
