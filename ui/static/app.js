// cset web console (docs/console.md). Plain JavaScript, no build step, no dependencies.
// Every call goes to /ui/api/... on the master that served this page; the master makes it as a
// call of its own gRPC API with the token sent here, so the API's roles and rules apply.
'use strict';

const TOKEN_KEY = 'cset-token'; // sessionStorage: this tab only, gone when it closes
const POLL_MS = 3000;
const MAX_EVENTS = 500;

const state = { overview: null, fetchedAt: 0, failed: false, session: null, route: '', events: [], lastSeq: 0 };
const $ = (sel) => document.querySelector(sel);

// el builds an element; children are nodes or strings (always text, never HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
function headers(extra) {
  const h = Object.assign({}, extra);
  if (token()) h['Authorization'] = 'Bearer ' + token();
  return h;
}

class APIError extends Error {
  constructor(status, code, msg) { super(msg); this.status = status; this.code = code; }
}

async function api(path, opts) {
  const res = await fetch('/ui/api/' + path, Object.assign({ cache: 'no-store', credentials: 'omit' }, opts, { headers: headers(opts && opts.headers) }));
  let body = null;
  try { body = await res.json(); } catch (e) { /* empty */ }
  if (!res.ok) {
    if (res.status === 401) askToken();
    throw new APIError(res.status, body && body.code, (body && body.error) || res.statusText);
  }
  return body;
}

function post(path, body) {
  // The custom header is the console's CSRF defence: no other site can send it.
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Cset-Console': '1' }, body: JSON.stringify(body || {}) });
}

function showError(msg) { const b = $('#error'); b.textContent = msg; b.hidden = !msg; }
let noticeTimer = null;
function showNotice(msg) {
  const b = $('#notice');
  b.textContent = msg;
  b.hidden = !msg;
  clearTimeout(noticeTimer);
  if (msg) noticeTimer = setTimeout(() => { b.hidden = true; }, 10000);
}

// ---- token ----

function askToken(force) {
  const d = $('#login');
  if (state.dismissed && force !== true) return;
  if (!d.open) { $('#login-token').value = ''; d.showModal(); }
}

function initAuth() {
  $('#login-btn').addEventListener('click', () => askToken(true));
  $('#logout-btn').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $('#login').addEventListener('close', () => {
    if ($('#login').returnValue !== 'ok') { state.dismissed = true; return; }
    const t = $('#login-token').value.trim();
    $('#login-token').value = '';
    if (t) { sessionStorage.setItem(TOKEN_KEY, t); state.dismissed = false; renderAuth(); refresh(); restartStream(); }
  });
}

function renderAuth() {
  const s = state.session;
  if (!s) return;
  $('#login-btn').hidden = !s.auth;
  $('#logout-btn').hidden = !token();
  $('#auth-state').textContent = s.auth ? (token() ? 'token set' : 'no token') : 'no -auth on this master';
}

// ---- the set ----

async function refresh() {
  try {
    state.overview = await api('overview');
    state.fetchedAt = Date.now();
    state.failed = false;
    showError('');
    render();
  } catch (e) {
    state.failed = true;
    showError('Cannot read the state: ' + e.message);
  }
  renderFreshness();
  if (state.route.startsWith('workload/')) loadWorkload(state.route.slice(9));
}

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 300);
}

function renderFreshness() {
  const o = state.overview;
  const f = $('#freshness');
  if (!o) return;
  const st = o.status;
  const age = Math.round((Date.now() - state.fetchedAt) / 1000);
  let text = 'served by ' + st.served_by;
  const follower = Number(st.last_contact_ms) >= 0;
  if (follower) text += ' (follower: reads are local, last contact with the leader ' + st.last_contact_ms + ' ms before the read; actions go to leader ' + (st.leader.id || 'unknown') + ')';
  else text += ' (leader)';
  text += ' · applied index ' + st.applied_index + ' of ' + st.commit_index + ' · read ' + age + ' s ago';
  f.textContent = text;
  const stale = state.failed || age * 1000 > 3 * POLL_MS || (follower && Number(st.last_contact_ms) > 5000);
  f.classList.toggle('stale', stale);
  f.dataset.stale = stale ? '1' : '0';
}

function cls(value, good, bad) {
  if (good.includes(value)) return 'ok';
  if (bad.includes(value)) return 'bad';
  return 'warn';
}

function render() {
  const o = state.overview;
  const st = o.status;
  $('#set-name').textContent = (st.cluster_set || '(no set)') + (st.zone ? ' · zone ' + st.zone : '');
  $('#masters tbody').replaceChildren(...st.masters.map(m => el('tr', {},
    el('td', {}, m.id + (m.id === st.served_by ? ' (this)' : '')),
    el('td', { class: m.role === 'leader' ? 'ok' : '' }, m.role + (m.tiebreaker ? ', tie-breaker' : '')),
    el('td', {}, m.voter ? 'yes' : 'no'),
    el('td', {}, m.grpc_addr))));
  $('#raft-line').textContent = 'leader ' + (st.leader.id || 'none') + ' · term ' + st.term + ' · ' + st.members + ' members, ' + st.workloads + ' workloads';
  renderWitness(st.witness, st);
  renderBrake();

  const groups = {};
  for (const n of (o.nodes.nodes || [])) groups[n.member + '/' + n.server] = n.groups || [];
  const members = o.members.members || [];
  syncRows($('#members tbody'), members, m => JSON.stringify([m, (m.servers || []).map(s => groups[m.name + '/' + s.name])]), m => el('tr', { 'data-member': m.name },
    el('td', {}, m.name),
    el('td', { class: 'health ' + cls(m.health, ['up'], ['down', 'unreachable', 'partitioned']), title: m.health_reason }, m.health + (m.health_reason ? ' — ' + m.health_reason : '')),
    el('td', { class: 'admin' }, m.admin + (m.removal ? ' (removing: ' + m.removal + ')' : '')),
    el('td', { class: 'load' }, m.load + ' / ' + (Number(m.capacity) > 0 ? m.capacity : 'no limit')),
    el('td', { class: 'servers' }, (m.servers || []).map(s => el('div', { 'data-server': s.name }, s.name + ': ',
      el('span', { class: cls(s.status, ['Online'], ['Offline', 'Unreachable', 'Down', '']) }, s.status || 'unknown'),
      (groups[m.name + '/' + s.name] || []).length ? el('span', { class: 'muted' }, ' · runs ' + groups[m.name + '/' + s.name].join(', ')) : ''))),
    el('td', {}, m.fault_domain || '—'),
    el('td', { class: 'actions' }, memberActions(m))));

  const ops = {};
  for (const op of (o.operations.operations || [])) ops[op.id] = op;
  const workloads = o.workloads.workloads || [];
  syncRows($('#workloads tbody'), workloads, w => JSON.stringify([w, ops[w.active_operation_id] || null]), w => {
    const op = ops[w.active_operation_id];
    return el('tr', { 'data-workload': w.name },
      el('td', {}, el('a', { href: '#/workload/' + encodeURIComponent(w.name) }, w.name)),
      el('td', { class: 'desired' }, w.desired),
      el('td', { class: 'placement' }, w.member ? w.member + (w.server ? ' / ' + w.server : '') : '—'),
      el('td', { class: 'status ' + cls(w.status, ['Online'], []) }, w.status || '—'),
      el('td', { class: 'probe' }, probeText(w)),
      el('td', { class: 'dns' }, dnsAnswer(w)),
      el('td', { class: 'operation' }, op ? op.reason + ' ' + (op.source_member || '∅') + ' → ' + (op.target_member || '∅') : (w.active_operation_id ? w.active_operation_id : '—')),
      el('td', { class: 'phase' + (w.active_operation_phase ? ' active' : '') }, w.active_operation_phase || '—'),
      el('td', { class: 'actions' }, workloadActions(w)));
  });
}

// syncRows makes tbody's rows those of items, keeping the element of every row whose data did
// not change: a row is rebuilt only when its data changes, so a click on a button is not lost
// to a refresh that changed nothing in its row.
function syncRows(tbody, items, keyOf, render) {
  const old = new Map();
  for (const tr of tbody.children) old.set(tr.dataset.key, tr);
  const rows = items.map(it => {
    const k = keyOf(it);
    const tr = old.get(k) || render(it);
    tr.dataset.key = k;
    return tr;
  });
  if (rows.length === tbody.children.length && rows.every((r, i) => tbody.children[i] === r)) return;
  tbody.replaceChildren(...rows);
}

function renderWitness(wi, st) {
  const box = $('#witness');
  if (!wi || !wi.configured) { box.replaceChildren(el('p', { class: 'muted' }, 'No witness configured.')); return; }
  const rows = (wi.witnesses && wi.witnesses.length ? wi.witnesses : [wi]).map(x => el('tr', {},
    el('td', {}, x.url),
    el('td', { class: x.reachable ? 'ok' : 'bad' }, x.reachable ? 'reachable' : 'unreachable'),
    el('td', {}, x.holder ? x.holder + ' (term ' + x.term + ', ' + Math.max(0, Math.round(Number(x.remaining_ms) / 100) / 10) + ' s left)' : 'no holder'),
    el('td', { class: 'muted' }, x.last_error || '')));
  box.replaceChildren(
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'witness'), el('th', {}, 'reachability'), el('th', {}, 'lease'), el('th', {}, ''))), el('tbody', {}, rows)),
    el('p', { class: 'muted' }, 'lease granted by ' + wi.granting + ' of the ' + wi.majority + ' needed' + (st.leader_view_from ? ', as leader ' + st.leader_view_from + ' sees it' : '')));
}

// renderBrake shows Status.brake (the leader's controller holds automatic failovers while more
// than half of the members look down) and the last brake decision of the event log seen here.
function renderBrake() {
  const st = state.overview && state.overview.status;
  if (!st) return;
  let last = null;
  for (const e of state.events) if (e.kind === 'decision' && /failover brake (engaged|released)/.test(e.message)) last = e;
  const view = st.leader_view_from ? 'as leader ' + st.leader_view_from + ' holds it' : (Number(st.last_contact_ms) >= 0 ? 'this follower could not ask the leader: its own view' : 'this leader\'s view');
  const box = $('#brake');
  box.replaceChildren(
    el('p', { class: st.brake ? 'bad' : 'ok', id: 'brake-state' }, st.brake ? 'ENGAGED: automatic failovers are held (most members look down)' : 'off: automatic failovers run'),
    el('p', { class: 'muted' }, view),
    last ? el('p', { class: 'muted' }, 'last: ' + fmtTime(last.time_unix_nano) + ' ' + last.message) : '');
}

function probeText(w) {
  if (!w.probe) return 'none';
  const r = w.probe_result || {};
  if (!r.reachability) return 'not probed yet';
  return r.reachability + (r.error ? ': ' + r.error : '');
}

// dnsAnswer is what the set's DNS answers for the workload: its addresses on the member where it
// runs, while it is Online there.
function dnsAnswer(w) {
  if (!w.member || w.status !== 'Online') return '—';
  const a = (w.addresses && w.addresses[w.member] && w.addresses[w.member].addresses) || [];
  return a.length ? a.join(', ') : '—';
}

// ---- actions ----

function memberWorkloads(m) { return (m.workloads || []).length ? (m.workloads || []).join(', ') : 'none'; }

function memberActions(m) {
  const out = [];
  if (m.admin === 'draining' || m.admin === 'disabled') {
    out.push(el('button', { 'data-action': 'undrain', onclick: () => confirmAction('Undrain ' + m.name,
      [m.name + ' becomes active again: the scheduler may place workloads on it. Nothing moves back by itself, except workloads with a failback policy.'],
      () => post('members/' + enc(m.name) + '/admin', { admin: 'active' })) }, 'Undrain'));
  } else {
    out.push(el('button', { 'data-action': 'drain', onclick: () => confirmAction('Drain ' + m.name,
      ['The masters move every workload off ' + m.name + ' (now: ' + memberWorkloads(m) + '), each with a stop on ' + m.name + ' and a start elsewhere: each is down while it moves.',
        m.name + ' takes no new workloads until it is undrained.'],
      () => post('members/' + enc(m.name) + '/admin', { admin: 'draining' })) }, 'Drain'));
  }
  if (m.health !== 'down') {
    out.push(el('button', { class: 'danger', 'data-action': 'down', onclick: () => confirmAction('Declare ' + m.name + ' down',
      ['You state that ' + m.name + ' is dead. The masters fence it and fail over its workloads (' + memberWorkloads(m) + ') to other members without waiting to reach it.',
        'If ' + m.name + ' is in fact running, its groups could run on two members at once. Do this only when ' + m.name + ' is certainly powered off or isolated.'],
      () => post('members/' + enc(m.name) + '/down')) }, 'Declare down'));
  }
  return out;
}

function enc(s) { return encodeURIComponent(s); }

function workloadActions(w) {
  const out = [];
  const name = w.fqdn || w.name;
  out.push(el('button', { 'data-action': 'move', onclick: () => {
    const o = state.overview;
    const targets = (w.candidates && w.candidates.length ? w.candidates : (o.members.members || []).map(m => m.name)).filter(m => m !== w.member);
    if (!targets.length) { showNotice(w.name + ' has no other candidate member.'); return; }
    const sel = el('select', { id: 'move-target' }, targets.map(t => el('option', { value: t }, t)));
    const force = el('input', { type: 'checkbox', id: 'move-force' });
    confirmAction('Move ' + w.name,
      [el('p', {}, 'Move to member ', sel),
        el('p', {}, w.name + ' stops on ' + (w.member || 'its member') + ' and starts on the chosen member: it is unavailable in between. DNS (' + name + ') answers the new address once it is Online there; clients may keep the old answer for the TTL.'),
        el('label', {}, force, ' force: override capacity and soft spread (never health, admin state, candidates or hard spread)')],
      () => post('workloads/' + enc(w.name) + '/move', { member: sel.value, force: force.checked }));
  } }, 'Move'));
  if (w.desired === 'offline') {
    out.push(el('button', { 'data-action': 'start', onclick: () => confirmAction('Start ' + w.name,
      [w.name + ' becomes desired online: the masters start group ' + w.group + ' on the best candidate member, and DNS answers ' + name + ' once it is Online.'],
      () => post('workloads/' + enc(w.name) + '/desired', { desired: 'online' })) }, 'Start'));
  } else {
    out.push(el('button', { class: 'danger', 'data-action': 'stop', onclick: () => confirmAction('Stop ' + w.name,
      [w.name + ' becomes desired offline: the masters stop group ' + w.group + (w.member ? ' on ' + w.member : '') + ' and DNS stops answering ' + name + '. Its clients lose the service until it is started again. Failover does not bring it back.'],
      () => post('workloads/' + enc(w.name) + '/desired', { desired: 'offline' })) }, 'Stop'));
  }
  return out;
}

// confirmAction shows what an action will do and runs it only when confirmed.
function confirmAction(title, body, run) {
  const d = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-body').replaceChildren(...body.map(b => b instanceof Node ? b : el('p', {}, b)));
  $('#confirm-error').hidden = true;
  const ok = $('#confirm-ok');
  const onClick = async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    try {
      await run();
      d.close('done');
      showNotice(title + ': accepted.');
      refreshSoon();
    } catch (e) {
      $('#confirm-error').textContent = (e.code ? e.code + ': ' : '') + e.message;
      $('#confirm-error').hidden = false;
    } finally {
      ok.disabled = false;
    }
  };
  ok.onclick = onClick;
  d.showModal();
}

// ---- a workload's page ----

async function loadWorkload(name) {
  try {
    const r = await api('workloads/' + enc(name));
    if (state.route !== 'workload/' + name) return;
    const w = r.workload;
    $('#wl-name').textContent = w.name;
    $('#wl-actions').replaceChildren(...workloadActions(w));
    const kv = [['group', w.group], ['desired', w.desired], ['placement', w.member ? w.member + ' / ' + w.server : '—'], ['status', w.status],
      ['DNS name', w.fqdn], ['DNS answer', dnsAnswer(w)], ['probe', probeText(w)],
      ['operation', w.active_operation_id ? w.active_operation_id + ' (' + w.active_operation_phase + ')' : '—'],
      ['candidates', (w.candidates || []).join(', ')], ['availability set', w.availability_set || '—'],
      ['depends on', (w.depends_on || []).join(', ') || '—'], ['auto failover', w.auto_failover ? 'yes' : 'no'], ['failback', w.failback || '—']];
    $('#wl-info tbody').replaceChildren(...kv.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { 'data-field': k }, v))));
    const cands = (r.placement && r.placement.candidates) || [];
    $('#wl-placement tbody').replaceChildren(...(cands.length ? cands.map((c, i) => el('tr', {},
      el('td', {}, i + 1), el('td', {}, c.member), el('td', {}, c.server), el('td', {}, Number(c.score).toFixed(2)),
      el('td', { class: c.rejected ? 'bad' : 'ok' }, c.rejected ? 'rejected: ' + c.reason : (c.reason || 'eligible')))) :
      [el('tr', {}, el('td', { colSpan: 5, class: 'muted' }, r.placement_error || 'no candidates'))]));
    const evs = ((r.events && r.events.events) || []).slice().reverse();
    $('#wl-events tbody').replaceChildren(...evs.map(e => el('tr', {},
      el('td', {}, fmtTime(e.time_unix_nano)), el('td', {}, e.kind), el('td', { class: 'sev-' + e.severity }, e.severity),
      el('td', {}, e.member), el('td', {}, e.message), el('td', { class: 'muted' }, e.actor))));
  } catch (e) {
    showError('Cannot read workload ' + name + ': ' + e.message);
  }
}

function route() {
  state.route = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const wl = state.route.startsWith('workload/');
  $('#view-set').hidden = wl;
  $('#view-workload').hidden = !wl;
  if (wl) {
    $('#wl-name').textContent = state.route.slice(9);
    loadWorkload(state.route.slice(9));
  }
}

// ---- the live event timeline ----

function fmtTime(ns) {
  const d = new Date(Number(ns) / 1e6);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function eventText(e) {
  return [e.kind, e.severity, e.workload, e.member, e.message, e.actor].join(' ').toLowerCase();
}

function applyFilter(li) {
  const text = $('#filter-text').value.trim().toLowerCase();
  const sev = $('#filter-severity').value;
  const e = li._event;
  li.hidden = (sev && e.severity !== sev) || (text && !text.split(/\s+/).every(t => eventText(e).includes(t)));
}

function addEvent(e, live) {
  if (Number(e.seq) <= state.lastSeq) return;
  state.lastSeq = Number(e.seq);
  state.events.push(e);
  if (state.events.length > MAX_EVENTS) state.events.shift();
  const li = el('li', { class: 'sev-' + e.severity + (live ? ' fresh' : ''), 'data-seq': e.seq, 'data-kind': e.kind, 'data-workload': e.workload, 'data-member': e.member },
    fmtTime(e.time_unix_nano) + '  ' + e.kind.padEnd(10) + ' ' + (e.workload ? e.workload + ' ' : '') + (e.member ? '@' + e.member + ' ' : '') + e.message + (e.actor ? '  [' + e.actor + ']' : ''));
  li._event = e;
  applyFilter(li);
  const list = $('#events');
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

let streamAbort = null;
function restartStream() { if (streamAbort) streamAbort.abort(); }

// streamEvents reads the server-sent events of /ui/api/events with fetch (an EventSource cannot
// send the Authorization header), and reconnects after the last event it saw.
async function streamEvents() {
  for (;;) {
    streamAbort = new AbortController();
    const stateEl = $('#stream-state');
    try {
      const q = state.lastSeq ? '?after=' + state.lastSeq : '';
      const res = await fetch('/ui/api/events' + q, { headers: headers({ Accept: 'text/event-stream' }), cache: 'no-store', credentials: 'omit', signal: streamAbort.signal });
      if (!res.ok) {
        let msg = res.statusText;
        try { msg = (await res.json()).error; } catch (e) { /* empty */ }
        if (res.status === 401) askToken();
        throw new Error(msg);
      }
      stateEl.textContent = '(live)';
      stateEl.dataset.live = '1';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let backlog = true;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let data = '', type = 'message';
          for (const line of frame.split('\n')) {
            if (line.startsWith('data:')) data += line.slice(5).trim();
            else if (line.startsWith('event:')) type = line.slice(6).trim();
          }
          if (!data) continue;
          if (type === 'error') throw new Error(JSON.parse(data));
          addEvent(JSON.parse(data), !backlog);
          refreshSoon();
        }
        backlog = false;
        renderBrake();
      }
      throw new Error('stream ended');
    } catch (e) {
      stateEl.textContent = '(reconnecting: ' + e.message + ')';
      stateEl.dataset.live = '0';
      await new Promise(r => setTimeout(r, 2000));
    }
  }
}

// ---- start ----

async function main() {
  initAuth();
  for (const id of ['#filter-text', '#filter-severity']) $(id).addEventListener('input', () => { for (const li of $('#events').children) applyFilter(li); });
  window.addEventListener('hashchange', route);
  try { state.session = await api('session'); } catch (e) { showError(e.message); }
  renderAuth();
  if (state.session && state.session.auth && !token()) askToken();
  route();
  refresh();
  setInterval(refresh, POLL_MS);
  setInterval(renderFreshness, 1000);
  streamEvents();
}

main();
