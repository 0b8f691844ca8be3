// The ndtwin dashboard: plain JavaScript over the REST API; plots with the locally served plotly.js.
"use strict";

const state = { scenario: null, topology: null, prediction: null };
const $ = (id) => document.getElementById(id);
const ms = (seconds) => (seconds === null || seconds === undefined ? "–" : (seconds * 1e3).toPrecision(4));
const pct = (share) => (share === null || share === undefined ? "–" : (share * 100).toFixed(2));

function headers(extra = {}) {
  const token = sessionStorage.getItem("ndtwin-token");
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new Error(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  }
  return body;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function fillTable(id, rows) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement("td");
        if (cell instanceof Node) td.append(cell);
        else td.textContent = cell;
        tr.append(td);
      }
      return tr;
    }),
  );
}

function fillSelect(id, values) {
  const select = $(id);
  select.replaceChildren(new Option("–", ""), ...values.map((v) => new Option(v, v)));
}

// --- scenarios -------------------------------------------------------------------------------------------------

async function loadScenarios(selected) {
  const { scenarios } = await api("/scenarios");
  const select = $("scenario");
  select.replaceChildren(...scenarios.map((s) => new Option(`${s.name} (${s.n_nodes} nodes, ${s.n_flows} flows)`, s.id)));
  if (scenarios.length) {
    select.value = selected || scenarios[scenarios.length - 1].id;
    await showScenario(select.value);
  }
}

async function showScenario(id) {
  state.scenario = id;
  state.topology = await api(`/scenarios/${id}/topology`);
  state.prediction = await api(`/scenarios/${id}/predict`);
  const nodes = state.topology.nodes.map((n) => n.name);
  const links = [...new Set(state.topology.links.map((l) => [l.src, l.dst].sort().join("-")))];
  fillSelect("whatif-fail-node", nodes);
  fillSelect("whatif-fail-link", links);
  fillSelect("whatif-capacity-link", links);
  drawMap();
  drawDelays();
  status(`scenario ${id}`);
}

// --- topology map ----------------------------------------------------------------------------------------------

function positions(nodes) {
  if (nodes.every((n) => n.latitude !== null)) {
    return { x: nodes.map((n) => n.longitude), y: nodes.map((n) => n.latitude), geo: true };
  }
  const k = nodes.length; // no coordinates in the file: nodes on a circle
  return {
    x: nodes.map((_, i) => Math.cos((2 * Math.PI * i) / k)),
    y: nodes.map((_, i) => Math.sin((2 * Math.PI * i) / k)),
    geo: false,
  };
}

const UTILISATION_BINS = [
  [0, 0.3, "#2b83ba"],
  [0.3, 0.5, "#abdda4"],
  [0.5, 0.7, "#fdae61"],
  [0.7, 0.9, "#f46d43"],
  [0.9, Infinity, "#d7191c"],
];

function drawMap(links = state.topology.links, note = "as stored") {
  const { nodes } = state.topology;
  $("map-note").textContent = note;
  const where = positions(nodes);
  const index = Object.fromEntries(nodes.map((n, i) => [n.name, i]));
  const busiest = {}; // one line per node pair, coloured by its busier direction
  for (const link of links) {
    const key = [link.src, link.dst].sort().join("\u0000");
    if (!busiest[key] || busiest[key].utilization < link.utilization) busiest[key] = link;
  }
  const traces = UTILISATION_BINS.map(([lo, hi, color]) => {
    const x = [];
    const y = [];
    for (const link of Object.values(busiest)) {
      if (link.utilization >= lo && link.utilization < hi) {
        x.push(where.x[index[link.src]], where.x[index[link.dst]], null);
        y.push(where.y[index[link.src]], where.y[index[link.dst]], null);
      }
    }
    const label = hi === Infinity ? `≥ ${lo}` : `${lo}–${hi}`;
    return { x, y, mode: "lines", line: { color, width: 3 }, name: `utilisation ${label}`, hoverinfo: "skip" };
  });
  traces.push({
    x: where.x, y: where.y, text: nodes.map((n) => n.name), mode: "markers+text", textposition: "top center",
    marker: { size: 9, color: "#333" }, name: "nodes", showlegend: false,
  });
  const axis = { showgrid: false, zeroline: false, showticklabels: where.geo };
  Plotly.react("map", traces, {
    margin: { t: 10, r: 10, b: 30, l: 40 },
    xaxis: { ...axis, title: { text: where.geo ? "longitude" : "" } },
    yaxis: { ...axis, title: { text: where.geo ? "latitude" : "" }, scaleanchor: "x" },
    legend: { orientation: "h" },
  }, { displaylogo: false });
  const top = [...links].sort((a, b) => b.utilization - a.utilization).slice(0, 10);
  fillTable("loaded-links", top.map((l) => [`${l.src}→${l.dst}`, l.utilization.toFixed(3), (l.capacity_bps / 1e9).toPrecision(3)]));
}

// --- per-flow delay against the budget -------------------------------------------------------------------------

function drawDelays() {
  const flows = [...state.prediction.flows].sort((a, b) => a.delay_s - b.delay_s);
  const budget = parseFloat($("budget").value);
  const over = flows.filter((f) => f.delay_s * 1e3 > budget).length;
  Plotly.react("delays", [
    { y: flows.map((f) => f.delay_s * 1e3), text: flows.map((f) => `${f.src}→${f.dst} ToS ${f.tos}`),
      mode: "markers", marker: { size: 5, color: flows.map((f) => (f.delay_s * 1e3 > budget ? "#d7191c" : "#2b83ba")) },
      name: "predicted delay" },
  ], {
    margin: { t: 10, r: 10, b: 40, l: 50 },
    xaxis: { title: { text: "flows, by predicted delay" } },
    yaxis: { title: { text: "mean delay (ms)" } },
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: budget, y1: budget, line: { color: "#d7191c", dash: "dash" } }],
  }, { displaylogo: false });
  $("delay-summary").textContent = `${over} of ${flows.length} flows above the ${budget} ms budget (model ${state.prediction.model}).`;
}

// --- what-if ---------------------------------------------------------------------------------------------------

function whatIfRequest() {
  const body = { budget_ms: parseFloat($("budget").value) || null, top: 10, drop_disconnected: $("whatif-drop").checked };
  const scale = parseFloat($("whatif-scale").value);
  if (!Number.isNaN(scale)) body.scale = scale;
  if ($("whatif-fail-link").value) body.fail_links = [$("whatif-fail-link").value];
  if ($("whatif-fail-node").value) body.fail_nodes = [$("whatif-fail-node").value];
  const capacity = parseFloat($("whatif-capacity").value);
  if ($("whatif-capacity-link").value && !Number.isNaN(capacity)) {
    body.capacities = [`${$("whatif-capacity-link").value}=${capacity * 1e9}`];
  }
  return body;
}

async function runWhatIf(event) {
  event.preventDefault();
  $("whatif-summary").textContent = "predicting…";
  $("whatif-summary").className = "";
  try {
    const result = await api(`/scenarios/${state.scenario}/whatif`, {
      method: "POST", body: JSON.stringify(whatIfRequest()), headers: { "Content-Type": "application/json" },
    });
    showWhatIf(result);
  } catch (error) {
    $("whatif-summary").textContent = `error: ${error.message}`;
    $("whatif-summary").className = "error";
  }
}

function showWhatIf(result) {
  const flows = result.flows.filter((f) => f.delay_s_before !== null);
  const sla = result.summary.sla;
  let text = `${result.perturbation} (${result.model}): ${result.summary.n_flows_before} flows before, ${result.summary.n_flows_after} after`;
  if (result.gone.length) text += `, ${result.gone.length} gone`;
  if (sla) {
    text += `; SLA violations before ${sla.violations_before}, after ${sla.violations_after}`;
    if (sla.possible_violations_after !== undefined) {
      text += ` (${sla.certain_violations_after}–${sla.possible_violations_after} within the intervals)`;
    }
  }
  const lossy = (key) => result.flows.filter((f) => f[key] !== null && f[key] >= 1e-3).length;
  text += `; ${lossy("loss_after")} flows lose ≥ 0.1 % after (${lossy("loss_before")} before)`;
  text += result.interval_note ? `. ${result.interval_note}` : `. ${Math.round(result.interval_coverage * 100)} % intervals.`;
  $("whatif-summary").textContent = text;
  const after = result.links
    .filter((l) => l.utilization_after !== null)
    .map((l) => {
      const [src, dst] = l.link.split("→");
      return { src, dst, utilization: l.utilization_after, capacity_bps: l.capacity_bps_after };
    });
  drawMap(after, `after: ${result.perturbation}`);
  const hasIntervals = flows.length && flows[0].delay_s_after_lo !== undefined;
  const trace = {
    x: flows.map((f) => f.delay_s_before * 1e3), y: flows.map((f) => f.delay_s_after * 1e3),
    text: flows.map((f) => `${f.src}→${f.dst}`), mode: "markers", marker: { size: 6 }, name: "flows",
  };
  if (hasIntervals) {
    trace.error_y = {
      type: "data", symmetric: false, color: "#bbb", thickness: 1,
      array: flows.map((f) => (f.delay_s_after_hi - f.delay_s_after) * 1e3),
      arrayminus: flows.map((f) => (f.delay_s_after - f.delay_s_after_lo) * 1e3),
    };
  }
  const all = trace.x.concat(trace.y);
  const bounds = [Math.min(...all), Math.max(...all)];
  Plotly.react("whatif-plot", [trace, { x: bounds, y: bounds, mode: "lines", line: { color: "#999" }, name: "no change" }], {
    margin: { t: 10, r: 10, b: 45, l: 55 },
    xaxis: { title: { text: `delay before (ms, ${result.anchored_on_measured_baseline ? "measured" : "predicted"})` }, type: "log" },
    yaxis: { title: { text: "delay after (ms)" }, type: "log" },
  }, { displaylogo: false });
  const rows = Object.fromEntries(result.flows.map((f) => [f.flow, f]));
  fillTable("whatif-worst", result.summary.worst_by_delay_increase.map((w) => {
    const f = rows[w.flow];
    const interval = f.delay_s_after_lo !== undefined ? ` [${ms(f.delay_s_after_lo)}, ${ms(f.delay_s_after_hi)}]` : "";
    return [
      `${w.src}→${w.dst}`, ms(w.delay_s_before), ms(w.delay_s_after) + interval, ms(w.delay_s_delta),
      pct(f.loss_before), pct(f.loss_after),
    ];
  }));
}

// --- jobs ------------------------------------------------------------------------------------------------------

async function startJob(event) {
  event.preventDefault();
  const kind = $("job-kind").value;
  const body = { kind, scenario_id: state.scenario };
  if (kind === "capacity") body.budget_ms = parseFloat($("budget").value);
  try {
    await api("/jobs", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    await refreshJobs();
  } catch (error) {
    status(`job: ${error.message}`, true);
  }
}

async function refreshJobs() {
  const { jobs } = await api("/jobs");
  fillTable("jobs", jobs.slice(-10).reverse().map((job) => {
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = job.progress || 0;
    const action = document.createElement("button");
    action.textContent = "cancel";
    action.disabled = ["succeeded", "failed", "cancelled"].includes(job.state);
    action.onclick = () => api(`/jobs/${job.id}/cancel`, { method: "POST" }).then(refreshJobs, (e) => status(e.message, true));
    return [job.id, job.kind, job.error ? `${job.state}: ${job.error}` : job.state, bar, action];
  }));
}

// --- drift and versions ----------------------------------------------------------------------------------------

async function refreshOps() {
  const [operate, registry] = await Promise.all([api("/operate"), api("/registry")]);
  if (!operate.attached || !operate.has_result) {
    $("operate-summary").textContent = operate.attached ? "operate folder attached, no result yet" : "no operate folder attached (--operate DIR)";
  } else {
    $("operate-summary").textContent = `${operate.topology}: ${operate.steps} steps, ${operate.drifts_detected.length} drift(s), serving ${operate.serving_version}`;
    const series = operate.per_step_nmse_db || {};
    const traces = Object.entries(series).map(([name, values]) => ({ y: values, mode: "lines", name: `NMSE dB ${name.replace("_", " ")}` }));
    const shapes = operate.drifts_detected.map((d) => ({ type: "line", yref: "paper", y0: 0, y1: 1, x0: d.step, x1: d.step, line: { color: "#d7191c", dash: "dot" } }));
    Plotly.react("drift", traces, { margin: { t: 10, r: 10, b: 40, l: 50 }, xaxis: { title: { text: "step" } }, shapes }, { displaylogo: false });
  }
  fillTable("versions", registry.versions.map((v) => [v.id === registry.serving ? "serving" : "", v.id, v.created, v.parent || "–", v.note]));
}

// --- start -----------------------------------------------------------------------------------------------------

async function connect(event) {
  if (event) event.preventDefault();
  const token = $("token").value.trim();
  if (token) sessionStorage.setItem("ndtwin-token", token);
  try {
    await loadScenarios();
    await Promise.all([refreshJobs(), refreshOps()]);
  } catch (error) {
    status(error.message, true);
  }
}

async function upload(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("file", $("upload-file").files[0]);
  form.append("load", $("upload-load").value);
  try {
    const record = await api("/scenarios", { method: "POST", body: form });
    await loadScenarios(record.id);
  } catch (error) {
    status(`upload: ${error.message}`, true);
  }
}

$("token-form").addEventListener("submit", connect);
$("upload-form").addEventListener("submit", upload);
$("scenario").addEventListener("change", (e) => showScenario(e.target.value).catch((err) => status(err.message, true)));
$("budget").addEventListener("change", () => state.prediction && drawDelays());
$("whatif-form").addEventListener("submit", runWhatIf);
$("job-form").addEventListener("submit", startJob);
setInterval(() => state.scenario && refreshJobs().catch(() => {}), 2000);
connect();
