/**
 * The live debugger: one self-contained HTML page (inline CSS and JS, no external resources, no build step).
 * It reads `/debugger/events` with the session cookie set at login (SSE: one `snapshot` event with the buffered records, then one message per record)
 * and renders everything with textContent, never innerHTML, so row data cannot inject markup.
 */
export const DEBUGGER_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rowcast debugger</title>
<style>
  :root { font: 13px/1.4 system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
  body { margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; gap: .6rem; align-items: center; padding: .5rem .8rem; background: #1d2330; color: #fff; flex-wrap: wrap; }
  header h1 { font-size: 1rem; margin: 0 .6rem 0 0; }
  header select, header input, header button { font: inherit; padding: .2rem .4rem; }
  #conn { margin-left: auto; font-size: .85rem; }
  #conn.live::before { content: '● '; color: #3c6; } #conn.down::before { content: '● '; color: #e55; }
  main { display: flex; flex: 1; min-height: 0; }
  #list { flex: 3; overflow: auto; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e2e5ea; white-space: nowrap; }
  th { position: sticky; top: 0; background: #e9ecf1; }
  td.key, td.err { max-width: 18rem; overflow: hidden; text-overflow: ellipsis; }
  tbody tr { cursor: pointer; background: #fff; } tbody tr:hover { background: #eef3ff; } tbody tr.sel { background: #dce6ff; }
  .st { border-radius: 3px; padding: 0 .35rem; font-size: .8rem; color: #fff; }
  .st-sent { background: #2a8a4a; } .st-filtered { background: #7a8290; } .st-rejected { background: #c83232; }
  .st-dead-lettered { background: #8e3bb5; } .st-skipped { background: #a0a6b0; } .st-retrying { background: #d08a10; }
  #detail { flex: 2; overflow: auto; border-left: 1px solid #d5d9e0; background: #fff; padding: .6rem .8rem; }
  #detail h2 { font-size: .95rem; margin: .8rem 0 .3rem; }
  #detail pre { background: #f3f4f7; padding: .5rem; white-space: pre-wrap; word-break: break-all; margin: 0; }
  #detail dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; margin: 0; }
  #detail dt { color: #667; } #detail dd { margin: 0; word-break: break-all; }
  .empty { color: #889; padding: 1rem; }
</style>
</head>
<body>
<header>
  <h1>rowcast debugger</h1>
  <label>sync <select id="sync"><option value="">all</option></select></label>
  <label>status <select id="status"><option value="">all</option>
    <option>sent</option><option>filtered</option><option>rejected</option><option>dead-lettered</option><option>skipped</option><option>retrying</option>
  </select></label>
  <label>key <input id="key" type="search" placeholder="search by key"></label>
  <button id="pause" type="button">Pause</button>
  <span id="count"></span>
  <span id="conn" class="down">connecting</span>
</header>
<main>
  <div id="list">
    <table><thead><tr>
      <th>time</th><th>sync</th><th>status</th><th>type</th><th>table</th><th>key</th><th>topic</th><th>partition</th><th>offset</th><th>latency</th><th>error</th>
    </tr></thead><tbody id="rows"></tbody></table>
    <div id="none" class="empty">No events yet. Changes appear here as the syncs process them.</div>
  </div>
  <aside id="detail"><div class="empty">Click an event to see everything about it.</div></aside>
</main>
<script>
(() => {
  const MAX = 5000
  const $ = (id) => document.getElementById(id)
  const records = new Map() // id -> record, insertion order = arrival order
  const syncs = new Set()
  let paused = false, held = [], selected = null

  // The session cookie set at login authenticates the feed: no credential in any URL.
  const eventsUrl = location.pathname.replace(/\\/?$/, '/events')

  function el(tag, text, cls) {
    const node = document.createElement(tag)
    if (text !== undefined && text !== null) node.textContent = String(text)
    if (cls) node.className = cls
    return node
  }
  function pretty(text) {
    if (text === null || text === undefined) return '(none)'
    try { return JSON.stringify(JSON.parse(text), null, 2) } catch { return String(text) }
  }
  function matches(r) {
    const s = $('sync').value, st = $('status').value, k = $('key').value.trim()
    return (!s || r.sync === s) && (!st || r.status === st) && (!k || (r.key ?? '').includes(k))
  }
  function rowFor(r) {
    const tr = el('tr')
    tr.dataset.id = r.id; tr.dataset.status = r.status; tr.dataset.sync = r.sync
    tr.append(
      el('td', new Date(r.time).toISOString().slice(11, 23)), el('td', r.sync),
      (() => { const td = el('td'); td.append(el('span', r.status, 'st st-' + r.status)); return td })(),
      // snapshot rows (backfill, resync) carry no stream position
      el('td', r.lsn === '0/0' ? r.type + ' (snapshot)' : r.type), el('td', r.table), el('td', r.key ?? '', 'key'), el('td', r.topic ?? ''),
      el('td', r.partition ?? '', 'partition'), el('td', r.offset ?? '', 'offset'),
      el('td', r.latencyMs === undefined ? '' : r.latencyMs + ' ms'), el('td', r.error ?? '', 'err'),
    )
    if (selected === r.id) tr.classList.add('sel')
    tr.addEventListener('click', () => select(r.id))
    return tr
  }
  function render() {
    const body = $('rows'), shown = []
    for (const r of records.values()) if (matches(r)) shown.push(r)
    shown.reverse() // newest first
    body.replaceChildren(...shown.map(rowFor))
    $('none').hidden = shown.length > 0
    $('count').textContent = shown.length + ' shown' + (paused ? ', ' + held.length + ' held' : '')
  }
  let pending = false
  function scheduleRender() { // coalesce bursts: at most one re-render per 100 ms
    if (pending) return
    pending = true
    setTimeout(() => { pending = false; render() }, 100)
  }
  function addSync(name) {
    if (syncs.has(name)) return
    syncs.add(name)
    const opt = el('option', name); opt.value = name; $('sync').append(opt)
  }
  function add(list) {
    for (const r of list) {
      if (records.has(r.id)) continue
      records.set(r.id, r); addSync(r.sync)
    }
    while (records.size > MAX) records.delete(records.keys().next().value)
  }
  function select(id) {
    selected = id
    const r = records.get(id), d = $('detail')
    for (const tr of document.querySelectorAll('#rows tr')) tr.classList.toggle('sel', Number(tr.dataset.id) === id)
    if (!r) return
    const dl = el('dl')
    for (const [k, v] of [['time', new Date(r.time).toISOString()], ['sync', r.sync], ['status', r.status], ['type', r.type],
      ['table', r.table], ['key', r.key], ['topic', r.topic], ['partition', r.partition], ['offset', r.offset],
      ['end-to-end latency', r.latencyMs === undefined ? undefined : r.latencyMs + ' ms'], ['lsn', r.lsn === '0/0' ? 'none: a snapshot row (backfill or resync), read beside the stream' : r.lsn], ['error', r.error]]) {
      if (v === undefined || v === null || v === '') continue
      dl.append(el('dt', k), el('dd', v))
    }
    d.replaceChildren(el('h2', 'Event'), dl,
      el('h2', 'Source row'), el('pre', r.row ? JSON.stringify(r.row, null, 2) : '(none)', 'row'),
      el('h2', 'Message'), el('pre', pretty(r.message), 'message'),
      el('h2', 'Headers'), el('pre', r.headers && Object.keys(r.headers).length ? JSON.stringify(r.headers, null, 2) : '(none)', 'headers'))
  }

  for (const id of ['sync', 'status']) $(id).addEventListener('change', render)
  $('key').addEventListener('input', render)
  $('pause').addEventListener('click', () => {
    paused = !paused
    $('pause').textContent = paused ? 'Resume' : 'Pause'
    if (!paused) { add(held); held = [] }
    render()
  })

  const source = new EventSource(eventsUrl)
  source.addEventListener('open', () => { $('conn').textContent = 'live'; $('conn').className = 'live' })
  source.addEventListener('error', () => {
    // CLOSED: the feed refused us (the session expired or the token changed); a reload shows the login form
    const closed = source.readyState === EventSource.CLOSED
    $('conn').textContent = closed ? 'logged out: reload the page to log in' : 'disconnected, retrying'
    $('conn').className = 'down'
  })
  source.addEventListener('snapshot', (e) => { add(JSON.parse(e.data)); render() })
  source.addEventListener('message', (e) => {
    const r = JSON.parse(e.data)
    if (paused) { held.push(r); if (held.length > MAX) held.shift(); $('count').textContent = held.length + ' held'; return }
    add([r]); scheduleRender()
  })
})()
</script>
</body>
</html>
`
