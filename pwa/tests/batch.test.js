// The office's batch download: the links name the ticked cases (at most 50), the ticks stop
// at the limit, the server's file name is read, and every refusal is said in words.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLabels, setLang } = await import("../js/i18n.js");
const {
  MAX_BATCH, batchBar, batchLinks, batchRefusal, fileName, isClosed, periodBar, periodFiles, periodLinks,
  pickBox,
} = await import("../js/batch.js");

const text = (markup) => String(markup).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
const cases = (n, status = "closed") => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, subject: `案件${i}`, status }));

test("each file links to its batch endpoint with the cases repeated", () => {
  setLang("zh");
  const links = Object.fromEntries(batchLinks(["a 1", "b"]).map((l) => [l.id, l]));
  assert.equal(links["closure-docx"].href, "/api/closure-files.docx?case=a%201&case=b");
  assert.equal(links["closure-pdf"].href, "/api/closure-files.pdf?case=a%201&case=b");
  assert.equal(links["public-docx"].href, "/api/closure-files.docx?case=a%201&case=b&public=1");
  assert.equal(links["public-pdf"].href, "/api/closure-files.pdf?case=a%201&case=b&public=1");
  assert.equal(links["archive-zip"].href, "/api/archives.zip?case=a%201&case=b");
  assert.equal(links["public-pdf"].label, "公示版 PDF");
  assert.ok(isClosed({ status: "closed" }) && !isClosed({ status: "submitted" }));
});

test("the bar: nothing ticked says what to do, ticked cases get the five links", () => {
  setLang("zh");
  const shown = cases(3);
  const none = String(batchBar(shown, new Set()));
  assert.match(none, /data-selected="0"/);
  assert.match(none, /id="batch-hint"/);
  assert.doesNotMatch(none, /data-batch=/);
  assert.match(text(none), /全选显示的已办结案件（3 件）/);
  const two = String(batchBar(shown, new Set(["c2", "c0"])));
  assert.match(two, /data-selected="2"/);
  assert.match(text(two), /已选 2 件/);
  assert.match(two, /data-indeterminate="1"/);  // some, not all
  assert.equal((two.match(/data-batch="/g) || []).length, 5);
  assert.match(two, /href="\/api\/closure-files\.pdf\?case=c0&amp;case=c2"/);  // the list's order
  assert.match(text(two), /下载已选的 2 件/);
  const all = String(batchBar(shown, new Set(["c0", "c1", "c2"])));
  assert.match(all, /id="batch-all" checked/);
  assert.doesNotMatch(all, /data-indeterminate/);
});

test("at most 50: the other boxes are disabled, more than 50 disables the links", () => {
  setLang("zh");
  const shown = cases(60);
  const fifty = new Set(shown.slice(0, MAX_BATCH).map((c) => c.id));
  assert.match(String(pickBox(shown[0], fifty)), /checked/);
  assert.doesNotMatch(String(pickBox(shown[0], fifty)), /disabled/);
  assert.match(String(pickBox(shown[55], fifty)), /disabled/);
  assert.match(String(pickBox(shown[55], fifty)), /title="已选满 50 件/);
  const bar = String(batchBar(shown, fifty));
  assert.match(bar, /id="batch-all" checked/);  // "all" means the first 50
  assert.match(text(bar), /一次最多 50 件：全选只选前 50 件/);
  assert.match(bar, /batch-limit at-limit/);
  assert.doesNotMatch(bar, /aria-disabled/);
  const over = String(batchBar(shown, new Set(shown.slice(0, 51).map((c) => c.id))));
  assert.equal((over.match(/aria-disabled="true"/g) || []).length, 5);
  assert.doesNotMatch(over, /href=/);
});

test("the file's name comes from Content-Disposition", () => {
  assert.equal(fileName(`attachment; filename="closure.pdf"; filename*=UTF-8''%E5%8A%9E%E7%BB%93.pdf`, "x"), "办结.pdf");
  assert.equal(fileName('attachment; filename="closure-files.pdf"', "x"), "closure-files.pdf");
  assert.equal(fileName(null, "archives.zip"), "archives.zip");
});

test("a refusal is said in words, Chinese first, naming the case", () => {
  setLabels({ statuses: { in_progress: { zh: "办理中", en: "In progress" } } });
  setLang("zh");
  const subjects = new Map([["c1", "垃圾中转站异味"]]);
  const refused = (problem) => text(batchRefusal({ kind: "client", problem }, subjects));
  assert.match(refused({ code: "closure.not_closed", case_id: "c1", case_status: "in_progress" }),
    /^「垃圾中转站异味」已不是办结状态（现为：办理中）/);
  assert.match(refused({ code: "closure.too_many_photos", detail: "These cases hold 240 photos; a closure file takes at most 200: split the batch." }),
    /^所选案件的照片超过.*分批下载。 These cases hold 240 photos/);
  assert.match(refused({ code: "closure.not_sealed", case_id: "c1" }), /^「垃圾中转站异味」办结时尚未启用封存/);
  assert.match(refused({ code: "case.not_found", case_id: "zz" }), /^zz不存在或你无权查看/);
  assert.match(refused({ code: "closure.too_many_cases" }), /一次最多下载 50 件/);
  assert.match(refused({ code: "closure.forbidden" }), /只有办公室人员/);
  assert.match(text(batchRefusal({ kind: "offline" })), /未能下载： 无网络/);
  setLang("en");
  assert.match(refused({ code: "closure.not_closed", case_id: "c1", case_status: "in_progress" }),
    /^“垃圾中转站异味” is no longer closed \(now: In progress\)/);
  setLang("zh");
});

test("two photos a page: the documents ask for per_page=2, the archive does not", () => {
  setLang("zh");
  const links = Object.fromEntries(batchLinks(["a", "b"], { perPage: 2 }).map((l) => [l.id, l]));
  assert.equal(links["closure-pdf"].href, "/api/closure-files.pdf?case=a&case=b&per_page=2");
  assert.equal(links["public-docx"].href, "/api/closure-files.docx?case=a&case=b&public=1&per_page=2");
  assert.equal(links["archive-zip"].href, "/api/archives.zip?case=a&case=b");
  const bar = String(batchBar(cases(3), new Set(["c1"]), { perPage: 2 }));
  assert.match(bar, /id="batch-per-page" class="per-page-box"\s+checked/);
  assert.match(text(bar), /每页两张照片/);
  assert.match(bar, /closure-files\.docx\?case=c1&amp;per_page=2/);
  assert.doesNotMatch(String(batchBar(cases(3), new Set(["c1"]))), /per_page=2|checked>/);
});

test("a batch by closing period and unit: links once both days are chosen, in words", () => {
  setLang("zh");
  assert.deepEqual(periodLinks({ from: "2026-11-01" }), []);
  const links = Object.fromEntries(periodLinks({ from: "2026-11-01", to: "2026-11-30", unit: "u 1" },
    { perPage: 2 }).map((l) => [l.id, l]));
  assert.equal(links["period-closure-pdf"].href,
    "/api/closure-files.pdf?closed_from=2026-11-01&closed_to=2026-11-30&unit=u+1&per_page=2");
  assert.equal(links["period-public-pdf"].href,
    "/api/closure-files.pdf?closed_from=2026-11-01&closed_to=2026-11-30&unit=u+1&public=1&per_page=2");
  assert.equal(links["period-archive-zip"].href,
    "/api/archives.zip?closed_from=2026-11-01&closed_to=2026-11-30&unit=u+1");
  assert.equal(periodLinks({ from: "2026-11-01", to: "2026-11-30" })[1].href,
    "/api/closure-files.pdf?closed_from=2026-11-01&closed_to=2026-11-30");
  const units = [{ id: "u1", name: "城中生态环境局" }, { id: "u2", name: "东街道" }];
  const empty = String(periodBar({}, units));
  assert.match(text(empty), /按办结时间批量下载/);
  assert.match(text(empty), /选择办结日期的起止/);
  assert.doesNotMatch(empty, /data-batch=/);
  assert.match(empty, /<option value="">全部单位<\/option>/);
  assert.match(empty, /<details class="batch-period card" id="batch-period"\s*>/);  // folded
  const chosen = String(periodBar({ from: "2026-11-01", to: "2026-11-30", unit: "u2" }, units));
  assert.match(chosen, /id="batch-period" open>/);
  assert.match(chosen, /<option value="u2" selected>东街道<\/option>/);
  assert.equal((chosen.match(/data-batch="period-/g) || []).length, 5);
  assert.match(String(periodFiles({ from: "2026-11-01", to: "2026-11-30" })), /一次最多 50 件/);
  const refused = (problem) => text(batchRefusal({ kind: "client", problem }, new Map(), { period: true }));
  assert.match(refused({ code: "closure.none_in_period" }), /该时段内没有你可查看的已办结案件/);
  assert.match(refused({ code: "closure.bad_period" }), /结束日期早于开始日期/);
  assert.match(refused({ code: "closure.too_many_cases" }), /该时段办结的案件超过 50 件/);
  setLang("en");
  assert.match(refused({ code: "closure.none_in_period" }), /No closed case you can see/);
  setLang("zh");
});

test("a file's link becomes the job that makes it", async () => {
  const { jobRequest } = await import("../js/batch.js");
  assert.deepEqual(jobRequest("/api/closure-files.pdf?case=a%201&case=b&public=1&per_page=2"),
    { kind: "closure_file", params: { case: ["a 1", "b"], format: "pdf", public: true, per_page: 2 } });
  assert.deepEqual(jobRequest("/api/closure-files.docx?closed_from=2026-01-01&closed_to=2026-01-31&unit=u1"),
    { kind: "closure_file", params: { closed_from: "2026-01-01", closed_to: "2026-01-31", unit: "u1", format: "docx" } });
  assert.deepEqual(jobRequest("/api/archives.zip?case=c"), { kind: "archive", params: { case: ["c"] } });
});

test("the job's panel: progress while it runs, the file and its hash when done, words when failed", async () => {
  const { jobPanel, jobPercent, fmtSize } = await import("../js/batch.js");
  setLang("zh");
  const running = { id: "j", state: "running", stage: "photos", progress: { done: 3, total: 12 } };
  assert.equal(jobPercent(running), 25);
  const bar = String(jobPanel(running, "办结材料 PDF"));
  assert.match(bar, /<progress id="job-progress" max="100" value="25"/);
  assert.match(text(bar), /读取照片 · 3\/12 · 25%/);
  const done = { id: "j", state: "done", stage: "done", progress: { done: 1, total: 1 },
    result: { url: "/api/jobs/j/download", filename: "办结材料-2件.pdf", size: 1536, sha256: "ab".repeat(32) } };
  const ready = String(jobPanel(done));
  assert.match(ready, /id="job-download" href="\/api\/jobs\/j\/download" download="办结材料-2件.pdf"/);
  assert.match(text(ready), /1\.5 KB/);
  assert.match(ready, new RegExp("ab".repeat(32)));
  assert.equal(fmtSize(3 * 1024 * 1024), "3.0 MB");
  const failed = { id: "j", state: "failed", stage: "failed", progress: { done: 0, total: 0 },
    error: { code: "closure.not_closed", case_id: "c1", case_status: "reopened",
      messages: { zh: "只有已办结的案件才能生成办结文件。", en: "Closure files are made for closed cases only." } } };
  const said = String(jobPanel(failed, "", new Map([["c1", "夜色酒吧"]])));
  assert.match(said, /data-code="closure.not_closed"/);
  assert.match(text(said), /「夜色酒吧」已不是办结状态/);
  assert.doesNotMatch(said, /job-download/);
  setLang("en");
  assert.match(text(String(jobPanel(running))), /Reading the photos/);
  setLang("zh");
});

test("a failed job says the server's words once; an expired one says so; the poll backs off", async () => {
  const { jobPanel, pollDelay, pollTrouble } = await import("../js/batch.js");
  for (const lang of ["zh", "en"]) {
    setLang(lang);
    for (const [n, code] of ["job.worker_lost", "job.unavailable", "job.failed"].entries()) {
      const messages = { zh: `服务器的话${n}。`, en: `Server words ${n}.` };
      const words = messages[lang];
      const failed = { id: "j", state: "failed", stage: "failed", progress: { done: 0, total: 0 },
        error: { code, detail: "OperationalError", messages } };
      const said = text(String(jobPanel(failed)));
      assert.equal(said.split(words).length - 1, 1, `${lang} ${code}: ${said}`);
      assert.doesNotMatch(said, /OperationalError|job\.\w+/);
    }
    const expired = { id: "j", state: "done", stage: "done", progress: { done: 1, total: 1 }, result: null };
    const gone = String(jobPanel(expired));
    assert.match(gone, /data-code="job.expired"/);
    assert.doesNotMatch(gone, /job-download|<progress/);
    assert.match(text(gone), lang === "zh" ? /重新生成/ : /make it again/);
    const running = { id: "j", state: "running", stage: "photos", progress: { done: 1, total: 4 } };
    assert.match(text(String(jobPanel(running, "", new Map(), { note: "retrying" }))), /retrying/);
  }
  setLang("zh");
  assert.equal(pollDelay(0), 700);
  assert.ok(pollDelay(1) > pollDelay(0) && pollDelay(3) > pollDelay(2));
  assert.equal(pollDelay(50), 30000);
  assert.equal(pollTrouble({ status: 404 }), "gone");
  assert.equal(pollTrouble({ status: 401, kind: "auth" }), "session");
  for (const error of [{ status: 0, kind: "offline" }, { status: 503, kind: "server" }, { status: 502, kind: "portal" }]) {
    assert.equal(pollTrouble(error), "retry");
  }
});
