// The desk dashboard: every chart is drawn here from the JSON API (uPlot, vendored; no CDN).
// window.dvolDash.ready[page] turns true once a page has drawn; window.dvolDash.points[chart]
// counts the non-null points a chart holds (the browser test reads both).
"use strict";

const dash = (window.dvolDash = { ready: {}, points: {}, errors: [] });
const COLORS = ["#1f6fb2", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285", "#5c940d", "#a61e4d",
  "#364fc7", "#c2255c", "#087f5b", "#f08c00"];
const charts = {};
let state = { asset: null, meta: null, page: "signals", universe: { sort: { key: "symbol", dir: 1 }, data: null, symbol: null } };

const $ = (id) => document.getElementById(id);
const fmt = (v, d = 2) => (v === null || v === undefined ? "–" : typeof v === "number" ? v.toFixed(d) : String(v));
const ts = (iso) => Date.parse(iso.length === 10 ? iso + "T00:00:00Z" : iso) / 1000;

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

function table(el, rows, cols) {
  const head = "<tr>" + cols.map((c) => `<th>${c[1]}</th>`).join("") + "</tr>";
  const body = rows.map((r) => "<tr>" + cols.map((c) => `<td>${c[2] ? c[2](r[c[0]], r) : fmt(r[c[0]])}</td>`)
    .join("") + "</tr>").join("");
  el.innerHTML = head + body;
}

// one uPlot per container, replaced on redraw; x and every y as arrays of the same length
function plot(id, title, x, ys, opts = {}) {
  const el = $(id);
  if (charts[id]) charts[id].destroy();
  el.innerHTML = "";
  const series = [{}].concat(ys.map((y, i) => ({
    label: y.label, stroke: y.color || COLORS[i % COLORS.length], width: y.width || 1.5,
    points: { show: y.points ?? x.length < 60 }, spanGaps: y.spanGaps ?? false, dash: y.dash,
  })));
  const width = Math.max(el.clientWidth || 900, 320);
  charts[id] = new uPlot({
    title, width, height: opts.height || 300, series,
    scales: { x: { time: opts.time !== false } },
    axes: [{ label: opts.xlabel }, { label: opts.ylabel, size: 90 }],
  }, [x].concat(ys.map((y) => y.data)), el);
  dash.points[id] = ys.reduce((n, y) => n + y.data.filter((v) => v !== null && v !== undefined).length, 0);
}

// join date-keyed series onto one sorted x axis (uPlot wants aligned arrays)
function align(list) {
  const keys = [...new Set(list.flatMap((s) => s.x))].sort();
  const at = list.map((s) => new Map(s.x.map((k, i) => [k, s.y[i]])));
  return { x: keys.map(ts), ys: at.map((m) => keys.map((k) => (m.has(k) ? m.get(k) : null))) };
}

function message(id, text, isError) {
  const el = $(id);
  el.textContent = text;
  el.className = isError ? "msg error" : "msg";
}

// -- pages ------------------------------------------------------------------------------------
const pages = {
  async signals() {
    const all = await api("/signals");
    table($("signals-table"), all.signals, [
      ["asset", "coin"], ["as_of", "as of"], ["yhat_1d", "ŷ 1d"], ["yhat_7d", "ŷ 7d"], ["yhat_14d", "ŷ 14d"],
      ["direction", "direction", (v) => (v > 0 ? "long DVOL" : v < 0 ? "short DVOL" : "flat")],
      ["confidence", "confidence"], ["primary_horizon", "primary (d)", (v) => v], ["tau", "τ"],
      ["model_version", "models", (v) => v], ["stale", "stale", (v) => (v ? "STALE" : "fresh")],
    ]);
    const h = await api(`/history/${state.asset}`);
    const rows = h.signals;
    plot("chart-history", `${state.asset}: forecast ΔDVOL`, rows.map((r) => ts(r.date)),
      [1, 7, 14].map((k) => ({ label: `${k}d`, data: rows.map((r) => r[`yhat_${k}d`]) })), { ylabel: "vol points" });
  },
  async dvol() {
    const d = await api(`/dvol/${state.asset}?horizon=7`);
    $("dvol-h").textContent = d.horizon;
    const latest = d.latest_signal ? d.latest_signal.points : [];
    const a = align([
      { x: d.date, y: d.dvol },
      { x: d.forecast.date, y: d.forecast.dvol },
      { x: latest.map((p) => p.date).concat(d.latest_signal ? [d.latest_signal.as_of] : []),
        y: latest.map((p) => p.dvol).concat(d.latest_signal ? [d.latest_signal.dvol] : []) },
    ]);
    plot("chart-dvol", `${d.asset} DVOL`, a.x, [
      { label: "DVOL", data: a.ys[0], points: false },
      { label: `${d.horizon}d forecast (${d.family || "no promoted model"})`, data: a.ys[1], points: false, width: 1 },
      { label: "newest signal", data: a.ys[2], points: true, spanGaps: true, width: 2 },
    ], { ylabel: "vol points" });
  },
  async surface(day) {
    const q = day ? `?date=${day}` : "";
    const s = await api(`/surface/${state.asset}${q}`);
    const picker = $("surface-date");
    picker.min = s.dates[0];
    picker.max = s.dates[s.dates.length - 1];
    picker.value = s.date;
    picker.dataset.dates = s.dates.join(",");
    message("surface-msg", `${s.asset} ${s.date}`);
    heatmap(s.grid);
    const ts1 = s.term_structure.listed, cm = s.term_structure.constant_maturity;
    const xs = [...new Set(ts1.days_to_expiry.concat(cm.tenor_days))].sort((p, q2) => p - q2);
    const pick = (keys, vals) => { const m = new Map(keys.map((k, i) => [k, vals[i]])); return xs.map((x) => m.get(x) ?? null); };
    plot("chart-term", "ATM vol by maturity", xs, [
      { label: "listed expiries", data: pick(ts1.days_to_expiry, ts1.atm_iv), points: true, spanGaps: true },
      { label: "constant maturity", data: pick(cm.tenor_days, cm.atm_iv), points: true, spanGaps: true },
    ], { time: false, xlabel: "days to expiry", ylabel: "vol points", height: 260 });
    plot("chart-smiles", "Smiles", s.smiles.k, s.smiles.expiries.map((e) => ({
      label: e.expiry.slice(0, 10), data: e.iv, points: false })), { time: false, xlabel: "log-moneyness k", ylabel: "vol points" });
    $("surface-stats").textContent = `25Δ risk reversal (30d): ${fmt(s.rr25_30d)} vol pts · 25Δ butterfly (30d): ${fmt(s.bf25_30d)} vol pts · `
      + `${s.params.length} expiries fitted`;
    dash.surfaceDate = s.date;
  },
  async greeks() {
    const e = await api(`/exposures/${state.asset}`);
    message("greeks-date", `${e.asset} ${e.date}`);
    const rows = e.expiries;
    const x = rows.map((r) => r.days_to_expiry);
    plot("chart-exposures", "Open-interest exposures (USD) by days to expiry", x, [
      { label: "net gamma (USD on a 1% move)", data: rows.map((r) => r.net_gamma_usd), points: true },
      { label: "net vega (USD per vol pt)", data: rows.map((r) => r.net_vega_usd), points: true },
      { label: "net theta (USD per day)", data: rows.map((r) => r.net_theta_usd), points: true },
    ], { time: false, xlabel: "days to expiry", ylabel: "USD" });
    table($("exposures-table"), rows, [
      ["expiry", "expiry", (v) => v.slice(0, 10)], ["days_to_expiry", "days", (v) => fmt(v, 1)],
      ["n_options", "options", (v) => v], ["open_interest", "OI", (v) => fmt(v, 0)],
      ["net_delta_coin", "Δ (coin)"], ["net_gamma_usd", "Γ (USD)", (v) => fmt(v, 0)],
      ["net_vega_usd", "vega (USD)", (v) => fmt(v, 0)], ["net_theta_usd", "θ (USD)", (v) => fmt(v, 0)],
    ]);
  },
  async strategy(choice) {
    const q = choice ? `?strategy=${encodeURIComponent(choice.strategy)}&family=${encodeURIComponent(choice.family)}` : "";
    const e = await api(`/equity/${state.asset}${q}`);
    const sel = $("strategy-pick");
    sel.innerHTML = e.available.map((c) => {
      const v = `${c.strategy}|${c.family}`;
      return `<option value="${v}"${c.strategy === e.strategy && c.family === e.family ? " selected" : ""}>${c.strategy} · ${c.family}</option>`;
    }).join("");
    const x = e.date.map(ts);
    plot("chart-equity", `${e.asset} ${e.strategy} (${e.family}): equity, net of costs`, x,
      [{ label: "equity (USD)", data: e.equity_usd, points: false }], { ylabel: "USD" });
    plot("chart-drawdown", "drawdown", x, [{ label: "drawdown (USD)", data: e.drawdown_usd, points: false, color: "#b42318" }],
      { ylabel: "USD", height: 200 });
  },
  async universe(arg) {
    const u = state.universe;
    if (arg && arg.symbol) { await universeChart(arg.symbol); return; }
    if (arg && arg.sort) { u.sort = arg.sort; universeTable(); return; }
    const st = await api("/vol");
    if (!st.available) {
      $("universe-msg").textContent = `${st.message}. This table fills in once the universe lane writes its predictions.`;
      $("universe-table").innerHTML = "";
      $("chart-universe").innerHTML = "";
      return;
    }
    const h = arg && arg.horizon ? `?horizon=${arg.horizon}` : "";
    const d = await api(`/universe${h}`);
    u.data = d;
    $("universe-h").innerHTML = d.horizons.map((x) => `<option value="${x}"${x === d.horizon ? " selected" : ""}>${x} d</option>`).join("");
    $("universe-msg").textContent = `${d.rows.length} coins · ${d.horizon}-day realised vol · forecast by `
      + `${d.family || "no family"} (${d.basis}) · regime from the LightGBM classifier · click a column to sort, a coin for its chart`;
    universeTable();
    const pick = d.rows.find((r) => r.symbol === u.symbol) || d.rows[0];
    if (pick) await universeChart(pick.symbol);
  },
  async health() {
    const h = await api("/health");
    message("health-status", `${h.status}` + (h.stale_tables.length ? ` (stale: ${h.stale_tables.join(", ")})` : "")
      + (h.missing_tables.length ? ` · ${h.missing_tables.length} tables not written yet` : ""), h.status !== "ok");
    table($("health-tables"), h.tables, [
      ["table", "table", (v) => v], ["asset", "coin", (v) => v ?? ""], ["newest", "newest", (v) => v ?? "–"],
      ["age_days", "age (days)", (v) => v ?? ""], ["written_at", "written", (v) => v ?? ""],
      ["stale", "state", (v, r) => (r.missing ? '<span class="bad">not written yet</span>'
        : v ? '<b class="bad">stale</b>' : "fresh")],
    ]);
    const d = h.dagster;
    table($("health-runs"), d.available ? d.runs : [{ job: d.why }], [
      ["job", "job", (v) => v], ["status", "status", (v) => v ?? ""], ["started", "started", (v) => v ?? ""],
      ["ended", "ended", (v) => v ?? ""], ["url", "", (v) => (v ? `<a href="${v}" target="_blank">open</a>` : "")],
    ]);
    table($("health-checks"), d.available ? d.failed_checks : [], [
      ["asset", "asset", (v) => v], ["check", "check", (v) => v], ["partition", "partition", (v) => v ?? ""],
      ["at", "at", (v) => v],
    ]);
  },
};

// -- universe: one row per coin, sortable, a chart per coin ------------------------------------
const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
const UNIVERSE_COLS = [
  ["symbol", "coin", (v) => v], ["date", "as of", (v) => v ?? "–"], ["forecast", "forecast vol", pct],
  ["regime", "regime", (v, r) => (v ? `<span class="regime-${v}">${v}</span> ${pct(r[`p_${v}`])}` : "–")],
  ["p_low", "P(low)", pct], ["p_mid", "P(mid)", pct], ["p_high", "P(high)", pct],
  ["realised", "latest realised vol", pct], ["forecast_then", "forecast for it", pct],
  ["miss", "forecast − realised", (v) => (v === null ? "–" : `${v > 0 ? "+" : ""}${(100 * v).toFixed(1)} pts`)],
  ["realised_date", "realised from", (v) => v ?? "–"],
];

function universeTable() {
  const u = state.universe, { key, dir } = u.sort;
  const rows = u.data.rows.map((r) => ({ ...r,
    miss: r.realised !== null && r.forecast_then !== null ? r.forecast_then - r.realised : null }));
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return a.symbol < b.symbol ? -1 : 1;
    if (x === null || x === undefined) return 1;  // empty cells last, whatever the direction
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  const head = "<tr>" + UNIVERSE_COLS.map((c) => `<th data-key="${c[0]}" class="sortable">${c[1]}`
    + `${c[0] === key ? (dir > 0 ? " ▲" : " ▼") : ""}</th>`).join("") + "</tr>";
  const body = rows.map((r) => `<tr data-symbol="${r.symbol}" class="pick${r.symbol === u.symbol ? " picked" : ""}">`
    + UNIVERSE_COLS.map((c) => `<td>${c[2](r[c[0]], r)}</td>`).join("") + "</tr>").join("");
  const el = $("universe-table");
  el.innerHTML = head + body;
  el.querySelectorAll("th").forEach((th) => { th.onclick = () => {
    const k = th.dataset.key;
    show("universe", { sort: { key: k, dir: k === key ? -dir : k === "symbol" ? 1 : -1 } });
  }; });
  el.querySelectorAll("tr[data-symbol]").forEach((tr) => { tr.onclick = () => show("universe", { symbol: tr.dataset.symbol }); });
  dash.universeOrder = rows.map((r) => r.symbol);
}

async function universeChart(symbol) {
  const u = state.universe;
  const c = await api(`/universe/${encodeURIComponent(symbol)}?horizon=${u.data.horizon}`);
  u.symbol = symbol;
  document.querySelectorAll("#universe-table tr[data-symbol]").forEach((tr) => tr.classList.toggle("picked", tr.dataset.symbol === symbol));
  const pctOf = (xs) => xs.map((v) => (v === null ? null : 100 * v));
  plot("chart-universe", `${c.symbol}: ${c.horizon}-day realised vol vs ${c.family || "no"} forecast (at the day forecast from)`,
    c.date.map(ts), [
      { label: "realised", data: pctOf(c.y), points: false },
      { label: `forecast (${c.family})`, data: pctOf(c.y_hat), points: false },
    ], { ylabel: "annualised vol (%)" });
  dash.universeSymbol = c.symbol;
}

function heatmap(grid) {
  const el = $("heatmap");
  const cw = 70, ch = 34, left = 60, top = 24;
  const vals = grid.iv.flat().filter((v) => v !== null);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const color = (v) => {
    if (v === null) return "#eee";
    const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    return `hsl(${240 - 240 * t}, 70%, ${55 + 10 * (1 - Math.abs(2 * t - 1))}%)`;
  };
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${left + cw * grid.deltas.length + 10}" height="${top + ch * grid.tenors.length + 10}">`;
  grid.deltas.forEach((d, j) => { svg += `<text x="${left + cw * j + cw / 2}" y="16" text-anchor="middle">${d}</text>`; });
  grid.tenors.forEach((t, i) => {
    svg += `<text x="${left - 8}" y="${top + ch * i + ch / 2 + 4}" text-anchor="end">${t}d</text>`;
    grid.deltas.forEach((d, j) => {
      const v = grid.iv[i][j];
      svg += `<rect class="cell" x="${left + cw * j}" y="${top + ch * i}" width="${cw - 2}" height="${ch - 2}" fill="${color(v)}"><title>${t}d ${d}: ${fmt(v)}</title></rect>`;
      svg += `<text x="${left + cw * j + cw / 2 - 1}" y="${top + ch * i + ch / 2 + 4}" text-anchor="middle" class="val">${fmt(v, 1)}</text>`;
    });
  });
  el.innerHTML = svg + "</svg>";
  dash.points.heatmap = vals.length;
}

async function show(page, arg) {
  state.page = page;
  document.querySelectorAll(".page").forEach((p) => { p.style.display = p.id === `page-${page}` ? "block" : "none"; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  dash.ready[page] = false;
  try {
    await pages[page](arg);
  } catch (err) {
    dash.errors.push(`${page}: ${err.message}`);
    const sec = $(`page-${page}`);
    let box = sec.querySelector(".page-error");
    if (!box) { box = document.createElement("p"); box.className = "page-error"; sec.prepend(box); }
    box.textContent = err.message;
  }
  dash.ready[page] = true;
}

async function init() {
  const meta = (state.meta = await api("/meta"));
  const sel = $("asset");
  sel.innerHTML = meta.coins.map((c) => `<option>${c}</option>`).join("");
  state.asset = meta.coins[0];
  sel.onchange = () => { state.asset = sel.value; show(state.page); };
  $("dagster-link").href = meta.dagster_ui;
  $("sheet-links").innerHTML = meta.tear_sheets.map((t) => `<a href="${t.url}" target="_blank">tear sheet ${t.asset}</a>`).join(" ");
  $("surface-date").onchange = (ev) => {
    const day = ev.target.value, held = (ev.target.dataset.dates || "").split(",");
    if (held.includes(day)) { show("surface", day); return; }
    const before = held.filter((d) => d < day).pop(), after = held.find((d) => d > day);
    message("surface-msg", `no surface on ${day}; nearest: ${[before, after].filter(Boolean).join(", ") || "none"}`, true);
  };
  $("universe-h").onchange = (ev) => show("universe", { horizon: ev.target.value });
  $("strategy-pick").onchange = (ev) => {
    const [strategy, family] = ev.target.value.split("|");
    show("strategy", { strategy, family });
  };
  window.addEventListener("hashchange", () => show((location.hash || "#signals").slice(1)));
  dash.initialised = true;
  await show((location.hash || "#signals").slice(1) in pages ? (location.hash || "#signals").slice(1) : "signals");
}

init().catch((err) => { dash.errors.push(`init: ${err.message}`); document.body.prepend(err.message); });
