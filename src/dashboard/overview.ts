/**
 * The batch overview page: one self-contained HTML document that polls /api/batches and /api/audit
 * (the newest actions, SPEC §16) every two seconds.
 * Every value is written with textContent (error messages come from a server, ids from Redis): no HTML
 * from data is ever parsed.
 */
export const OVERVIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nova-fleet — batches</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ee; --ok: #1f9d55; --warn: #d98c00; --bad: #d64545; --info: #3563e9; }
  body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Roboto, sans-serif; color: var(--fg); margin: 0; background: #f6f7fb; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 16px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header a { color: var(--info); text-decoration: none; }
  #updated { color: var(--muted); margin-left: auto; font-size: 12px; }
  main { padding: 16px 24px; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
  th, td { text-align: left; padding: 10px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); background: #fafbfd; }
  .status { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef1f8; }
  .status.completed { background: #e3f5ea; color: var(--ok); }
  .status.completed_with_failures, .status.waiting_approval, .status.waiting_window, .status.scheduled, .status.paused { background: #fff4de; color: var(--warn); }
  .status.halted, .status.cancelled { background: #fde8e8; color: var(--bad); }
  .status.running { background: #e6edff; color: var(--info); }
  .bar { width: 180px; height: 8px; background: #eef1f8; border-radius: 4px; overflow: hidden; margin-top: 4px; }
  .bar { display: flex; }
  .bar > div { height: 100%; background: var(--ok); }
  .bar > div.failed { background: var(--bad); }
  .bar > div.skipped { background: var(--warn); }
  .small { color: var(--muted); font-size: 12px; }
  .failures { margin: 0; padding-left: 16px; font-size: 12px; color: var(--bad); max-width: 360px; }
  .empty { padding: 32px; text-align: center; color: var(--muted); }
  svg.gate { display: block; margin-top: 6px; }
  svg.gate .treated { fill: var(--info); }
  svg.gate .control { fill: #b8c2d8; }
  svg.gate .whisker { stroke: var(--fg); stroke-width: 1.5; }
  svg.gate .axis { stroke: var(--line); }
  svg.gate text { font-size: 10px; fill: var(--muted); }
  svg.gate text.pass, svg.gate text.overridden { fill: var(--ok); }
  svg.gate text.degraded { fill: var(--bad); font-weight: 600; }
  svg.gate text.inconclusive { fill: var(--warn); }
  h2 { font-size: 14px; margin: 24px 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
</style>
</head>
<body>
<header>
  <h1>nova-fleet</h1>
  <span class="small">batches</span>
  <a href="queues">queues (bull-board) →</a>
  <span id="updated">loading…</span>
</header>
<main>
  <table>
    <thead><tr><th>Batch</th><th>Status</th><th>Wave</th><th>Progress</th><th>Rate</th><th>Agents</th><th>Failures by reason</th><th>Report</th></tr></thead>
    <tbody id="rows"><tr><td colspan="8" class="empty">loading…</td></tr></tbody>
  </table>
  <h2>Who did what (newest first; <code>nova-fleet audit</code> for all)</h2>
  <table>
    <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Batch</th><th>Reason</th></tr></thead>
    <tbody id="actions"><tr><td colspan="5" class="empty">loading…</td></tr></tbody>
  </table>
</main>
<script>
  const el = (tag, props = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  };
  // The calls gate's chart: per wave, the changed agents' completion rate beside the control's (or their
  // own before the change), each bar with its Wilson interval as a whisker, and the verdict under it.
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs = {}, children = []) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === 'text') node.textContent = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) node.append(child);
    return node;
  };
  const pct = (r) => (r == null ? '–' : (r * 100).toFixed(1) + '%');
  function gateChart(analysis) {
    const W = 112, H = 132, top = 8, base = H - 30;
    const y = (r) => top + (1 - r) * (base - top);
    const parts = [0, 0.5, 1].flatMap((r) => [svg('line', { x1: 30, x2: 30 + analysis.length * W, y1: y(r), y2: y(r), class: 'axis' }), svg('text', { x: 2, y: y(r) + 3, text: r * 100 + '%' })]);
    analysis.forEach((a, i) => {
      const x0 = 34 + i * W;
      const cohorts = [['treated', 'changed', a.treated], ['control', a.mode === 'control' ? 'control' : 'before', a.control]];
      cohorts.forEach(([kind, label, c], j) => {
        const x = x0 + j * 44;
        if (c.rate != null) parts.push(svg('rect', { x, y: y(c.rate), width: 28, height: Math.max(0, y(0) - y(c.rate)), class: kind, 'data-cohort': kind }, [svg('title', { text: label + ': ' + pct(c.rate) + ' of ' + c.calls + ' calls' + (c.interval ? ' (' + pct(c.interval.low) + '–' + pct(c.interval.high) + ')' : '') })]));
        if (c.interval) parts.push(svg('line', { x1: x + 14, x2: x + 14, y1: y(c.interval.low), y2: y(c.interval.high), class: 'whisker' }));
        parts.push(svg('text', { x: x + 14, y: base + 11, 'text-anchor': 'middle', text: label }));
      });
      parts.push(svg('text', { x: x0 + 36, y: base + 24, 'text-anchor': 'middle', class: a.verdict, text: 'wave ' + (a.wave + 1) + ': ' + a.verdict }));
    });
    return svg('svg', { class: 'gate', width: 34 + analysis.length * W, height: H, role: 'img', 'aria-label': 'completion rate of calls per wave: changed agents against control' }, parts);
  }
  const counts = (c) => Object.entries(c).filter(([, n]) => n > 0).map(([s, n]) => s + ' ' + n).join(', ') || '—';
  function row(b) {
    const pct = b.total ? Math.floor((b.done / b.total) * 100) : 0;
    // One segment per outcome: a cancelled batch's skipped agents are not a green 100%.
    const c = b.counts;
    const share = (n) => (b.total ? (n / b.total) * 100 : 0).toFixed(2) + '%';
    const segments = [
      ['ok', (c.applied || 0) + (c.unchanged || 0) + (c.restored || 0)],
      ['failed', (c.failed || 0) + (c.conflict || 0)],
      ['skipped', c.skipped || 0],
    ].filter(([, n]) => n > 0).map(([kind, n]) => el('div', { class: kind, title: kind + ' ' + n, style: 'width:' + share(n) }));
    const progress = el('td', {}, [el('div', { text: b.done + ' / ' + b.total + ' (' + pct + '%)' + (c.skipped ? ' · ' + c.skipped + ' skipped' : '') }), el('div', { class: 'bar' }, segments)]);
    const eta = b.etaSeconds ? ' · ETA ' + b.etaSeconds + 's' : '';
    const failures = el('ul', { class: 'failures' }, b.topFailures.map((f) => el('li', { text: f.count + ' × ' + f.reason })));
    return el('tr', { 'data-batch': b.id }, [
      el('td', {}, [el('div', { text: b.id }), el('div', { class: 'small', text: b.kind + (b.rollbackOf ? ' of ' + b.rollbackOf : '') + ' · ' + new Date(b.createdAt).toISOString().slice(0, 19).replace('T', ' ') + (b.submittedBy ? ' · by ' + b.submittedBy : '') })]),
      el('td', {}, [el('span', { class: 'status ' + b.status, text: b.status }), b.haltReason ? el('div', { class: 'small', text: b.haltReason }) : '']),
      el('td', {}, [el('div', { text: b.wave ? b.wave.current + ' / ' + b.wave.of : '—' }), ...(b.analysis && b.analysis.length ? [gateChart(b.analysis)] : [])]),
      progress,
      el('td', {}, [el('div', { text: b.rate.toFixed(1) + ' /s' + eta }), el('div', { class: 'small', 'data-requests': '', text: b.requests.total + ' requests' + (b.requests.perChanged != null ? ' · ' + b.requests.perChanged.toFixed(2) + ' per changed agent' : '') })]),
      el('td', { text: counts(b.counts) }),
      el('td', {}, [b.topFailures.length ? failures : el('span', { class: 'small', text: '—' })]),
      el('td', {}, [el('a', { href: 'api/batches/' + encodeURIComponent(b.id) + '/report.csv', text: 'CSV' })]),
    ]);
  }
  const action = (a) => el('tr', { 'data-action': a.action }, [
    el('td', { class: 'small', text: new Date(a.at).toISOString().slice(0, 19).replace('T', ' ') }),
    el('td', { text: a.actor }),
    el('td', {}, [el('div', { text: a.action }), a.detail ? el('div', { class: 'small', text: a.detail }) : '']),
    el('td', { text: a.batch || '—' }),
    el('td', { text: a.reason || '' }),
  ]);
  async function refresh() {
    try {
      const [batches, actions] = await Promise.all([(await fetch('api/batches')).json(), (await fetch('api/audit')).json()]);
      const body = document.getElementById('rows');
      body.replaceChildren(...(batches.length ? batches.map(row) : [el('tr', {}, [el('td', { colspan: '8', class: 'empty', text: 'no batches yet' })])]));
      document.getElementById('actions').replaceChildren(...(actions.length ? actions.map(action) : [el('tr', {}, [el('td', { colspan: '5', class: 'empty', text: 'no actions recorded' })])]));
      document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (error) {
      document.getElementById('updated').textContent = 'cannot reach the dashboard: ' + error.message;
    }
  }
  refresh();
  setInterval(refresh, 2000);
</script>
</body>
</html>
`;
