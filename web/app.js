/*
 * distconv dashboard: one page, hash routes, no framework, no build step.
 * It speaks docs/api.md: whoami/login/logout (session cookie, CSRF token
 * in memory), /api/v1/workers and /jobs, and the SSE stream
 * /api/v1/events, with polling while that stream is down.
 *
 * Every string from the API (job names are user input) reaches the page
 * through text nodes and attributes only, never as HTML.
 */
'use strict';

(function () {
  var API = '/api/v1';
  var PAGE = 25;          /* jobs per page */
  var POLL_MS = 3000;     /* while the event stream is down */
  var RETRY_ES_MS = 15000;
  var SPARK_N = 60;       /* samples kept per sparkline */
  var STATES = ['queued', 'assigned', 'running', 'verifying', 'done', 'failed', 'cancelled'];
  var ACTIVE = {queued: 1, assigned: 1, running: 1, verifying: 1};

  var S = {
    me: null,            /* whoami: {name, role, via, csrf?} */
    csrf: '',
    workers: {},         /* id -> worker object of the list */
    wdetail: {},         /* id -> worker object of /workers/ID (capabilities) */
    spark: {},           /* id -> {cpu: [], mem: [], temp: [], gpu: {gpuid: []}} */
    jobs: [], total: 0, jobsErr: '', workersErr: '',
    job: null, jobErr: '',
    rate: {},            /* job id -> {t, pct}: first progress seen, for an ETA */
    mode: 'off',         /* live | polling | off */
    loaded: {workers: false, jobs: false}
  };
  var es = null, pollTimer = 0, esRetry = 0, renderQueued = false, jobsFetch = 0;

  /* ---- DOM helpers: text only ---- */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = String(v);
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (var i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }
  function add(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(el, x); }); return; }
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) el.setAttribute(k, String(attrs[k]));
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    return el;
  }
  function $(id) { return document.getElementById(id); }

  /* ---- formatting ---- */
  function num(v) { return typeof v === 'number' && isFinite(v); }
  function fmtBytes(b) {
    if (!num(b)) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(b < 10 ? 1 : 0) : b) + ' ' + u[i];
  }
  function fmtDur(s) {
    if (!num(s) || s < 0) return '–';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function fmtTime(ms) {
    if (!num(ms) || ms <= 0) return '–';
    var d = new Date(ms), now = new Date();
    var t = d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
    return d.toDateString() === now.toDateString() ? t : d.toLocaleDateString() + ' ' + t;
  }
  function ago(ms) {
    if (!num(ms) || ms <= 0) return '–';
    return fmtDur((Date.now() - ms) / 1000) + ' ago';
  }
  function pct(v) { return num(v) ? (v < 10 ? v.toFixed(1) : Math.round(v)) + ' %' : '–'; }
  function jobHref(id) { return '#/jobs/' + encodeURIComponent(id); }
  function workerHref(id) { return '#/transcoders/' + encodeURIComponent(id); }

  /* ---- the API ---- */
  function ApiError(status, msg) { this.status = status; this.message = msg; }
  function api(method, path, body, headers) {
    var init = {method: method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && S.csrf) init.headers['X-CSRF-Token'] = S.csrf;
    for (var k in headers || {}) init.headers[k] = headers[k];
    return fetch(API + path, init).then(function (r) {
      return r.text().then(function (t) {
        var d = null;
        try { d = t ? JSON.parse(t) : {}; } catch (e) { d = null; }
        if (!r.ok) {
          /* A session that ended (revoked token, restarted coordinator):
           * the header must stop saying who was logged in. */
          if (r.status === 401 && path !== '/login' && S.me && S.me.via === 'session') setTimeout(loadWhoami, 0);
          var msg = d && typeof d.error === 'string' ? d.error : (r.status + ' ' + r.statusText);
          throw new ApiError(r.status, msg);
        }
        if (d === null) throw new ApiError(r.status, 'the server answered something that is not JSON');
        return d;
      });
    }, function (e) {
      throw new ApiError(0, 'cannot reach the coordinator (' + (e && e.message || e) + ')');
    });
  }
  function errText(e) {
    if (e instanceof ApiError) return e.status ? e.message + ' (HTTP ' + e.status + ')' : e.message;
    return String(e && e.message || e);
  }
  function showError(e) {
    $('banner-text').textContent = typeof e === 'string' ? e : errText(e);
    $('banner').hidden = false;
  }
  function clearError() { $('banner').hidden = true; }

  /* ---- roles (docs/api.md's permission table) ---- */
  function role() { return S.me ? S.me.role : 'none'; }
  function can(what) {
    var r = role();
    if (what === 'workers.read') return r === 'viewer' || r === 'operator';
    if (what === 'workers.control') return r === 'operator';
    if (what === 'jobs.read') return r !== 'none';
    if (what === 'jobs.submit' || what === 'jobs.control') return r === 'submitter' || r === 'operator';
    return false;
  }
  function loggedIn() { return S.me && (S.me.via === 'session' || S.me.via === 'token'); }

  /* ---- state updates ---- */
  function sample(id, w) {
    var sp = S.spark[id] || (S.spark[id] = {cpu: [], mem: [], temp: [], gpu: {}, last: 0});
    var t = w.telemetry || {};
    /* One sample per telemetry: an event and a poll can bring the same. */
    var stamp = w.last_seen_ms || Date.now();
    if (stamp === sp.last || w.state !== 'online') return;
    sp.last = stamp;
    function push(a, v) { a.push(num(v) ? v : null); if (a.length > SPARK_N) a.shift(); }
    push(sp.cpu, t.cpu_pct);
    push(sp.mem, num(t.mem_total) && t.mem_total > 0 && num(t.mem_avail)
      ? 100 * (t.mem_total - t.mem_avail) / t.mem_total : null);
    push(sp.temp, t.temp_c);
    (t.gpus || []).forEach(function (g) { push(sp.gpu[g.id] || (sp.gpu[g.id] = []), g.util_pct); });
  }
  function setWorker(w) {
    var old = S.workers[w.worker_id];
    S.workers[w.worker_id] = w;
    sample(w.worker_id, w);
    /* A new session is a new HELLO: its devices may differ. */
    if (!old || old.session !== w.session || !S.wdetail[w.worker_id]) loadWorkerDetail(w.worker_id);
  }
  function noteRate(j) {
    var p = j.progress;
    if (!p || !num(p.pct)) return;
    var r = S.rate[j.job_id];
    if (!r || p.pct < r.pct || r.attempt !== j.attempt) S.rate[j.job_id] = {t: Date.now(), pct: p.pct, attempt: j.attempt};
  }
  function setJob(j) {
    noteRate(j);
    var i, found = false;
    for (i = 0; i < S.jobs.length; i++) {
      if (S.jobs[i].job_id === j.job_id) {
        var prev = S.jobs[i];
        S.jobs[i] = j;
        found = true;
        if (prev.state !== j.state && filterState() && filterState() !== j.state) scheduleJobs();
        break;
      }
    }
    if (!found && route().name === 'jobs' && route().offset === 0 &&
        (!filterState() || filterState() === j.state)) scheduleJobs();
    if (S.job && S.job.job_id === j.job_id) {
      var state = S.job.state, attempt = S.job.attempt;
      for (var k in j) S.job[k] = j[k];
      if (!j.progress) delete S.job.progress;
      if (state !== j.state || attempt !== j.attempt) loadJob(j.job_id);
    }
  }

  /* ---- loading ---- */
  function loadWhoami() {
    return api('GET', '/whoami').then(function (me) {
      S.me = me;
      S.csrf = me.csrf || ''; /* a session's only */
      renderWho();
    }, function (e) { S.me = {role: 'none', via: 'anonymous', name: ''}; renderWho(); showError(e); });
  }
  function loadWorkers() {
    if (!can('workers.read')) { S.loaded.workers = true; return Promise.resolve(); }
    return api('GET', '/workers').then(function (d) {
      var seen = {};
      (d.workers || []).forEach(function (w) { seen[w.worker_id] = 1; setWorker(w); });
      for (var id in S.workers) if (!seen[id]) delete S.workers[id];
      S.workersErr = '';
      S.loaded.workers = true;
      render();
    }, function (e) { S.workersErr = errText(e); S.loaded.workers = true; render(); });
  }
  function loadWorkerDetail(id) {
    api('GET', '/workers/' + encodeURIComponent(id)).then(function (w) {
      S.wdetail[id] = w;
      render();
    }, function () { /* the list's short form is shown */ });
  }
  function filterState() { var r = route(); return r.name === 'jobs' ? r.state : ''; }
  function loadJobs() {
    var r = route();
    if (r.name !== 'jobs' && r.name !== 'transcoders') return Promise.resolve();
    var q = '?limit=' + PAGE + '&offset=' + (r.name === 'jobs' ? r.offset : 0);
    if (r.name === 'jobs' && r.state) q += '&state=' + encodeURIComponent(r.state);
    var mine = ++jobsFetch;
    return api('GET', '/jobs' + q).then(function (d) {
      if (mine !== jobsFetch) return;
      S.jobs = d.jobs || [];
      S.total = d.total || 0;
      S.jobs.forEach(noteRate);
      S.jobsErr = '';
      S.loaded.jobs = true;
      render();
    }, function (e) { if (mine === jobsFetch) { S.jobsErr = errText(e); S.loaded.jobs = true; render(); } });
  }
  var jobsTimer = 0;
  function scheduleJobs() {
    if (jobsTimer) return;
    jobsTimer = setTimeout(function () { jobsTimer = 0; loadJobs(); }, 400);
  }
  function loadJob(id) {
    return api('GET', '/jobs/' + encodeURIComponent(id)).then(function (j) {
      if (route().name !== 'job' || route().id !== id) return;
      S.job = j; S.jobErr = '';
      noteRate(j);
      render();
    }, function (e) { S.job = null; S.jobErr = errText(e); render(); });
  }
  function refresh() {
    var r = route();
    if (role() === 'none') return;
    loadWorkers();
    if (r.name === 'jobs' || r.name === 'transcoders') loadJobs();
    if (r.name === 'job') loadJob(r.id);
  }

  /* ---- live updates: SSE, polling while it is down ---- */
  function setMode(m) {
    S.mode = m;
    var el = $('live');
    el.setAttribute('data-mode', m);
    el.title = m === 'live' ? 'live updates' : m === 'polling' ? 'event stream down: polling every ' + POLL_MS / 1000 + ' s' : 'no updates';
  }
  function startPolling() {
    if (pollTimer) return;
    setMode('polling');
    pollTimer = setInterval(refresh, POLL_MS);
  }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = 0; } }
  function parse(ev) { try { return JSON.parse(ev.data); } catch (e) { return null; } }
  function connect() {
    if (es) es.close();
    if (esRetry) { clearTimeout(esRetry); esRetry = 0; }
    if (typeof EventSource === 'undefined' || role() === 'none') { startPolling(); return; }
    es = new EventSource(API + '/events');
    es.addEventListener('hello', function () {
      stopPolling();
      setMode('live');
      refresh(); /* what changed while it was down */
    });
    es.addEventListener('job', function (ev) { var j = parse(ev); if (j && j.job_id) { setJob(j); render(); } });
    es.addEventListener('worker', function (ev) { var w = parse(ev); if (w && w.worker_id) { setWorker(w); render(); } });
    es.onerror = function () {
      startPolling();
      /* CLOSED: refused (not an event stream, 401/403): try again later. */
      if (es && es.readyState === 2) {
        es = null;
        esRetry = setTimeout(connect, RETRY_ES_MS);
      }
    };
  }

  /* ---- routes: #/transcoders, #/transcoders/ID, #/jobs?state=&page=, #/jobs/ID, #/submit, #/login ---- */
  function route() {
    var hsh = location.hash.replace(/^#\/?/, '');
    var q = '', i = hsh.indexOf('?');
    if (i >= 0) { q = hsh.slice(i + 1); hsh = hsh.slice(0, i); }
    var parts = hsh.split('/').map(function (p) { try { return decodeURIComponent(p); } catch (e) { return p; } });
    var params = {};
    q.split('&').forEach(function (kv) {
      var j = kv.indexOf('=');
      if (j > 0) params[kv.slice(0, j)] = decodeURIComponent(kv.slice(j + 1));
    });
    if (parts[0] === 'jobs' && parts[1]) return {name: 'job', id: parts[1]};
    if (parts[0] === 'jobs') {
      var page = Math.max(1, parseInt(params.page, 10) || 1);
      return {name: 'jobs', state: STATES.indexOf(params.state) >= 0 ? params.state : '', page: page, offset: (page - 1) * PAGE};
    }
    if (parts[0] === 'transcoders' && parts[1]) return {name: 'transcoders', id: parts[1]};
    if (parts[0] === 'submit') return {name: 'submit'};
    if (parts[0] === 'login') return {name: 'login'};
    return {name: 'transcoders'};
  }
  function jobsHash(state, page) {
    var q = [];
    if (state) q.push('state=' + state);
    if (page > 1) q.push('page=' + page);
    return '#/jobs' + (q.length ? '?' + q.join('&') : '');
  }

  /* ---- rendering ---- */
  function render() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(function () { renderQueued = false; renderNow(false); });
  }
  /* Bring the page's DOM to what a fresh render drew, changing only what
   * differs: elements under the pointer stay (a click is not lost to an
   * update), and so do open <details> and the scroll position. */
  function sameNode(a, b) {
    if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) return false;
    if (a.nodeType !== 1) return true;
    return a.getAttribute('data-worker') === b.getAttribute('data-worker') &&
      a.getAttribute('data-job') === b.getAttribute('data-job') && a.id === b.id;
  }
  function morph(old, neu) {
    if (!sameNode(old, neu)) { old.replaceWith(neu); return; }
    if (old.nodeType !== 1) { if (old.nodeValue !== neu.nodeValue) old.nodeValue = neu.nodeValue; return; }
    var i, at;
    for (i = 0; i < neu.attributes.length; i++) {
      at = neu.attributes[i];
      if (at.name === 'style') { if (old.style.cssText !== neu.style.cssText) old.style.cssText = neu.style.cssText; }
      else if (old.getAttribute(at.name) !== at.value) old.setAttribute(at.name, at.value);
    }
    for (i = old.attributes.length - 1; i >= 0; i--) {
      at = old.attributes[i];
      /* an open <details> is the reader's choice */
      if (!neu.hasAttribute(at.name) && !(at.name === 'open' && old.nodeName === 'DETAILS')) old.removeAttribute(at.name);
    }
    var kids = Array.prototype.slice.call(neu.childNodes);
    while (old.childNodes.length > kids.length) old.removeChild(old.lastChild);
    kids.forEach(function (k, n) {
      if (n < old.childNodes.length) morph(old.childNodes[n], k);
      else old.appendChild(k);
    });
  }
  /* Forms (login, submit) are drawn once per visit: live updates must not
   * wipe what someone is typing. */
  var formDrawn = '';
  function renderNow(force) {
    var r = route(), main = $('main');
    Array.prototype.forEach.call(document.querySelectorAll('[data-nav]'), function (a) {
      a.classList.toggle('on', a.getAttribute('data-nav') === (r.name === 'job' ? 'jobs' : r.name));
    });
    if (r.name === 'submit' || r.name === 'login') {
      if (!force && formDrawn === r.name) return;
      formDrawn = r.name;
    } else {
      formDrawn = '';
    }
    var view;
    if (!S.me) view = h('p', {class: 'muted'}, 'Loading…');
    else if (role() === 'none' && r.name !== 'login') view = viewLogin('This coordinator needs a token to show anything.');
    else if (r.name === 'jobs') view = viewJobs(r);
    else if (r.name === 'job') view = viewJob(r);
    else if (r.name === 'submit') view = viewSubmit();
    else if (r.name === 'login') view = viewLogin('');
    else view = viewTranscoders(r);
    if (!force && main.firstChild && main.childNodes.length === 1) morph(main.firstChild, view);
    else main.replaceChildren(view);
  }
  function renderWho() {
    var el = $('who'), me = S.me || {};
    var parts = [];
    if (loggedIn()) {
      parts.push(h('span', {id: 'whoami', 'data-role': me.role}, h('b', {text: me.name || '(token)'}), ' · ', me.role));
      if (me.via === 'session') parts.push(h('button', {type: 'button', id: 'logout', onclick: logout}, 'Log out'));
    } else {
      parts.push(h('span', {id: 'whoami', 'data-role': me.role || 'none', class: 'muted'},
        me.role && me.role !== 'none' ? 'anonymous · ' + me.role : 'not logged in'));
      parts.push(h('a', {class: 'btn', href: '#/login', id: 'login-link'}, 'Log in'));
    }
    el.replaceChildren.apply(el, parts);
  }

  function pill(cls, text, title) { return h('span', {class: 'pill ' + cls, title: title}, text || cls); }
  function progressBar(p, state, stalled) {
    var v = p && num(p.pct) ? Math.max(0, Math.min(100, p.pct)) : (state === 'done' ? 100 : 0);
    var fill = h('span');
    fill.style.width = v + '%';
    return h('div', {class: 'prog'},
      h('div', {class: 'bar' + (state === 'done' ? ' done' : '') + (stalled ? ' stalled' : ''), role: 'progressbar',
        'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': v.toFixed(1)}, fill),
      h('span', {class: 'pct'}, p && num(p.pct) ? v.toFixed(v < 10 ? 1 : 0) + ' %' : (state === 'done' ? '100 %' : '')));
  }
  function sparkline(values, max) {
    var pts = [], n = values.length, W = 100, H = 26;
    var top = max;
    values.forEach(function (v) { if (num(v) && v > top) top = v; });
    values.forEach(function (v, i) {
      if (!num(v)) return;
      var x = n > 1 ? (i * W) / (SPARK_N - 1) + (SPARK_N - n) * W / (SPARK_N - 1) : W;
      pts.push(x.toFixed(1) + ',' + (H - 1 - (v / top) * (H - 2)).toFixed(1));
    });
    var s = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', 'aria-hidden': 'true'});
    if (pts.length > 1) {
      var first = pts[0].split(',')[0], last = pts[pts.length - 1].split(',')[0];
      s.appendChild(svg('polygon', {class: 'area', points: first + ',' + H + ' ' + pts.join(' ') + ' ' + last + ',' + H}));
      s.appendChild(svg('polyline', {points: pts.join(' ')}));
    }
    return s;
  }
  function metric(key, value, series, max, name) {
    return h('div', {class: 'metric', 'data-metric': name},
      h('div', {class: 'k'}, key), h('div', {class: 'v'}, value),
      series && series.some(num) ? sparkline(series, max) : null);
  }
  function workerStates(w) {
    var out = [];
    if (w.state !== 'online') return [pill('offline', 'offline', 'last seen ' + ago(w.last_seen_ms))];
    if (w.draining) out.push(pill('draining'));
    if (w.busy) out.push(pill('busy', 'busy', w.busy_reason || ''));
    if (w.benchmarking) out.push(pill('benchmarking', 'benchmarking', 'startup benchmark still measuring'));
    if (!out.length) out.push(pill('online'));
    return out;
  }
  function workerState(w) {
    if (w.state !== 'online') return 'offline';
    if (w.draining) return 'draining';
    if (w.busy) return 'busy';
    return 'online';
  }

  /* Buttons in the live views carry data-action and data-id and are
   * handled by one listener (below): morph() keeps the elements across
   * updates, so a closure bound to an old worker or job would go stale. */
  function drainButton(w) {
    if (w.state !== 'online' && !w.draining) return null;
    if (!can('workers.control')) {
      return loggedIn() ? null : h('a', {class: 'btn', href: '#/login'}, 'Log in to drain');
    }
    return h('button', {type: 'button', class: w.draining ? '' : 'danger', 'data-action': w.draining ? 'undrain' : 'drain',
      'data-id': w.worker_id}, w.draining ? 'Undrain' : 'Drain');
  }

  function devicesTable(w) {
    var d = S.wdetail[w.worker_id], devs = (d && d.devices) || w.devices || [];
    if (!devs.length) return h('p', {class: 'muted'}, 'No encoder devices reported.');
    var rows = devs.map(function (dv) {
      var codecs = (dv.codecs || []).map(function (c) {
        return typeof c === 'string' ? c : c.codec + ' (' + c.encoder + ')';
      }).join(', ');
      var name = dv.device_name || dv.name || dv.device_id;
      var avail = dv.available !== false;
      return h('tr', {'data-device': dv.device_id},
        h('td', null, h('div', null, name), h('div', {class: 'muted mono'}, dv.plugin, dv.hardware ? ' · hw' : '')),
        h('td', null, avail ? codecs || '–' : h('span', {class: 'unavail'}, 'unavailable: ' + (dv.unavailable_reason || 'no reason given'))));
    });
    return h('table', {class: 'devs'}, h('thead', null, h('tr', null, h('th', null, 'Device'), h('th', null, 'Codecs (encoder)'))), h('tbody', null, rows));
  }

  /* "h264, hevc · 3 unavailable": the devices in one line. */
  function capsSummary(w) {
    var d = S.wdetail[w.worker_id], devs = (d && d.devices) || w.devices || [];
    var codecs = {}, off = 0;
    devs.forEach(function (dv) {
      if (dv.available === false) { off++; return; }
      (dv.codecs || []).forEach(function (c) { codecs[typeof c === 'string' ? c : c.codec] = 1; });
    });
    var s = Object.keys(codecs).sort().join(', ') || 'no codec';
    return s + (off ? ' · ' + off + ' unavailable' : '');
  }

  function gpuRows(w) {
    var t = w.telemetry || {}, gpus = t.gpus || [], d = S.wdetail[w.worker_id];
    var sp = S.spark[w.worker_id] || {gpu: {}};
    return gpus.map(function (g) {
      var limit = 0;
      ((d && d.devices) || []).forEach(function (dv) { if (dv.device_id === g.id && dv.max_sessions > limit) limit = dv.max_sessions; });
      var sess = num(g.enc_sessions) ? g.enc_sessions + ' / ' + (limit ? limit : 'no limit') : '–';
      return h('div', {class: 'gpu', 'data-gpu': g.id},
        h('h3', null, g.name || g.id),
        h('div', {class: 'metrics'},
          metric('GPU', pct(g.util_pct), sp.gpu[g.id] || [], 100, 'gpu'),
          metric('Encoder sessions', sess, null, 0, 'sessions'),
          metric('Encoder / decoder', pct(g.enc_pct) + ' / ' + pct(g.dec_pct), null, 0, 'encdec'),
          metric('Memory', num(g.mem_used) ? fmtBytes(g.mem_used) + ' / ' + fmtBytes(g.mem_total) : '–', null, 0, 'gmem'),
          num(g.temp_c) ? metric('Temperature', g.temp_c.toFixed(0) + ' °C', null, 0, 'gtemp') : null));
    });
  }

  function findJob(id) {
    for (var i = 0; i < S.jobs.length; i++) if (S.jobs[i].job_id === id) return S.jobs[i];
    return null;
  }

  function workerCard(w) {
    var t = w.telemetry || {}, sp = S.spark[w.worker_id] || {cpu: [], mem: [], temp: []};
    var memUsed = num(t.mem_total) && num(t.mem_avail) ? t.mem_total - t.mem_avail : null;
    var jobs = (w.jobs || []).map(function (j) {
      var known = findJob(j.job_id);
      /* Job events come every second, worker events every few: the job's is fresher. */
      var p = known && known.progress && known.attempt === j.attempt ? known.progress : {pct: j.progress};
      return h('li', {'data-job': j.job_id},
        h('a', {href: jobHref(j.job_id)}, known && known.name ? known.name : j.job_id, ' · attempt ', j.attempt),
        progressBar(p, 'running'));
    });
    return h('section', {class: 'card worker', 'data-worker': w.worker_id, 'data-state': workerState(w)},
      h('div', {class: 'card-head'},
        h('div', null, h('a', {class: 'title', href: workerHref(w.worker_id)}, w.worker_id),
          h('div', {class: 'sub'}, w.hostname || w.host || '', w.version ? ' · ' + w.version : '')),
        h('div', {class: 'pills'}, workerStates(w))),
      w.busy && w.busy_reason ? h('p', {class: 'muted busy-reason'}, 'Busy: ' + w.busy_reason) : null,
      h('div', {class: 'metrics'},
        metric('CPU', pct(t.cpu_pct) + (num(t.load1) ? ' · load ' + t.load1.toFixed(2) : ''), sp.cpu, 100, 'cpu'),
        metric('Memory', memUsed !== null ? fmtBytes(memUsed) + ' / ' + fmtBytes(t.mem_total) : '–', sp.mem, 100, 'mem'),
        metric('Temperature', num(t.temp_c) ? t.temp_c.toFixed(0) + ' °C' : '–', sp.temp, 90, 'temp'),
        metric('Slots', (w.slots_used || 0) + ' / ' + (w.slots || 0), null, 0, 'slots')),
      gpuRows(w),
      h('h3', null, 'Running jobs'),
      jobs.length ? h('ul', {class: 'running-jobs'}, jobs) : h('p', {class: 'muted'}, 'None'),
      h('details', {class: 'caps', open: route().id === w.worker_id}, h('summary', null, 'Capabilities ', h('span', {class: 'muted'}, capsSummary(w))), devicesTable(w)),
      h('div', {class: 'actions'}, drainButton(w), w.state === 'online' ? null : h('span', {class: 'muted'}, 'last seen ' + ago(w.last_seen_ms))));
  }

  function viewTranscoders(r) {
    if (!can('workers.read')) return h('div', null, h('h1', null, 'Transcoders'),
      h('p', {class: 'muted'}, 'Your role (' + role() + ') does not see workers. ', h('a', {href: '#/jobs'}, 'Your jobs')));
    var ids = Object.keys(S.workers).sort();
    if (r.id) ids = ids.filter(function (id) { return id === r.id; });
    var online = ids.filter(function (id) { return S.workers[id].state === 'online'; }).length;
    return h('div', null,
      h('h1', null, 'Transcoders ', h('span', {class: 'muted', id: 'worker-count'}, online + ' online of ' + ids.length)),
      S.workersErr ? h('p', {class: 'error'}, S.workersErr) : null,
      !S.loaded.workers ? h('p', {class: 'muted'}, 'Loading…') :
        ids.length ? h('div', {class: 'cards', id: 'workers'}, ids.map(function (id) { return workerCard(S.workers[id]); }))
          : h('p', {class: 'muted'}, r.id ? 'No worker ' + r.id + '.' : 'No worker has registered yet.'));
  }

  function eta(j) {
    var p = j.progress;
    if (!p || j.state !== 'running') return null;
    if (num(p.eta_s)) return p.eta_s;
    if (num(j.eta_s)) return j.eta_s;
    if (num(p.frames) && num(p.frames_total) && num(p.fps) && p.fps > 0 && p.frames_total >= p.frames)
      return (p.frames_total - p.frames) / p.fps;
    var r = S.rate[j.job_id];
    if (r && num(p.pct) && p.pct > r.pct) {
      var rate = (p.pct - r.pct) / ((Date.now() - r.t) / 1000);
      if (rate > 0) return (100 - p.pct) / rate;
    }
    return null;
  }
  function isStalled(j) { return !!(j.stalled || (j.progress && j.progress.stalled)); }
  function jobStatePills(j) {
    return h('span', {class: 'pills'}, pill(j.state, j.state), isStalled(j) ? pill('stalled', 'stalled') : null);
  }
  function profileSummary(p) {
    if (!p) return '';
    var s = (p.codec || 'h264');
    if (p.encoder && p.encoder !== 'auto') s += ' · ' + p.encoder;
    return s;
  }

  function jobControls(j) {
    if (!can('jobs.control')) return loggedIn() ? null : h('a', {class: 'btn', href: '#/login'}, 'Log in to cancel or retry');
    var out = [];
    if (ACTIVE[j.state]) out.push(h('button', {type: 'button', class: 'danger', 'data-action': 'cancel', 'data-id': j.job_id}, 'Cancel'));
    if (j.state === 'failed' || j.state === 'cancelled')
      out.push(h('button', {type: 'button', class: 'primary', 'data-action': 'retry', 'data-id': j.job_id}, 'Retry'));
    return out;
  }
  var ACTIONS = {
    drain: ['/workers/', function (w) { setWorker(w); }],
    undrain: ['/workers/', function (w) { setWorker(w); }],
    cancel: ['/jobs/', function (j) { setJob(j); if (S.job && S.job.job_id === j.job_id) loadJob(j.job_id); }],
    retry: ['/jobs/', function (j) { setJob(j); if (S.job && S.job.job_id === j.job_id) loadJob(j.job_id); }]
  };
  function onAction(ev) {
    var b = ev.target.closest && ev.target.closest('button[data-action]');
    var verb = b && b.getAttribute('data-action'), a = ACTIONS[verb];
    if (!a) return;
    b.disabled = true;
    api('POST', a[0] + encodeURIComponent(b.getAttribute('data-id')) + '/' + verb, {}).then(function (o) {
      b.disabled = false; clearError(); a[1](o); render();
    }, function (e) { b.disabled = false; showError(e); });
  }

  function viewJobs(r) {
    var chips = [''].concat(STATES).map(function (s) {
      return h('a', {class: 'btn chip' + (r.state === s ? ' on' : ''), href: jobsHash(s, 1), 'data-filter': s || 'all'}, s || 'all');
    });
    var rows = S.jobs.map(function (j) {
      var p = j.progress || {};
      var e = eta(j);
      return h('tr', {'data-job': j.job_id, 'data-state': j.state},
        h('td', {'data-label': 'Job'}, h('a', {href: jobHref(j.job_id), class: 'job-name'}, j.name || j.job_id),
          h('div', {class: 'muted mono'}, j.job_id)),
        h('td', {'data-label': 'State'}, jobStatePills(j)),
        h('td', {'data-label': 'Progress'}, progressBar(j.progress, j.state, isStalled(j)),
          p.phase && ACTIVE[j.state] ? h('div', {class: 'muted'}, p.phase) : null,
          j.state === 'queued' && j.waiting ? h('div', {class: 'muted'}, j.waiting.reason) : null,
          j.state === 'failed' && j.error ? h('div', {class: 'error'}, j.error) : null),
        h('td', {class: 'num', 'data-label': 'fps'}, num(p.fps) ? p.fps.toFixed(1) : '–'),
        h('td', {class: 'num', 'data-label': 'ETA'}, e !== null ? fmtDur(e) : '–'),
        h('td', {'data-label': 'Worker'}, j.worker ? h('a', {href: workerHref(j.worker)}, j.worker) : '–'),
        h('td', {'data-label': 'Profile'}, profileSummary(j.profile)),
        h('td', {class: 'num', 'data-label': 'Submitted'}, fmtTime(j.created_ms)));
    });
    var from = S.total ? r.offset + 1 : 0, to = Math.min(r.offset + S.jobs.length, S.total);
    var pages = Math.max(1, Math.ceil(S.total / PAGE));
    return h('div', null,
      h('div', {class: 'toolbar'}, h('h1', {style: null}, 'Jobs'), h('span', {class: 'muted'}, ''),
        can('jobs.submit') ? h('a', {class: 'btn', href: '#/submit'}, 'Submit a job') : null),
      h('div', {class: 'toolbar', role: 'group', 'aria-label': 'filter by state'}, chips),
      S.jobsErr ? h('p', {class: 'error'}, S.jobsErr) : null,
      !S.loaded.jobs ? h('p', {class: 'muted'}, 'Loading…') :
        !S.jobs.length ? h('p', {class: 'muted', id: 'no-jobs'}, r.state ? 'No ' + r.state + ' jobs.' : 'No jobs yet.') :
          h('div', {class: 'card table-card'}, h('table', {class: 'stack', id: 'jobs'},
            h('thead', null, h('tr', null, ['Job', 'State', 'Progress', 'fps', 'ETA', 'Worker', 'Profile', 'Submitted'].map(function (t, i) {
              return h('th', {class: i === 3 || i === 4 || i === 7 ? 'num' : null}, t);
            }))),
            h('tbody', null, rows))),
      h('div', {class: 'pager'},
        h('span', {class: 'muted', id: 'jobs-range'}, from + '–' + to + ' of ' + S.total),
        r.page > 1 ? h('a', {class: 'btn', href: jobsHash(r.state, r.page - 1)}, '‹ Newer') : null,
        r.page < pages ? h('a', {class: 'btn', href: jobsHash(r.state, r.page + 1), id: 'older'}, 'Older ›') : null));
  }

  function kv(pairs) {
    var dl = h('dl', {class: 'kv'});
    pairs.forEach(function (p) { if (p && p[1] !== undefined && p[1] !== null && p[1] !== '') add(dl, [h('dt', null, p[0]), h('dd', {'data-field': p[2] || null}, p[1])]); });
    return dl;
  }
  function viewJob(r) {
    var j = S.job;
    if (S.jobErr) return h('div', null, h('h1', null, 'Job ', r.id), h('p', {class: 'error'}, S.jobErr), h('a', {href: '#/jobs'}, '‹ All jobs'));
    if (!j || j.job_id !== r.id) return h('p', {class: 'muted'}, 'Loading…');
    var p = j.progress || {}, e = eta(j);
    var prof = Object.keys(j.profile || {}).map(function (k) { return k + '=' + j.profile[k]; }).join(' ');
    var attempts = (j.attempts || []).map(function (a) {
      return h('tr', {'data-attempt': a.attempt},
        h('td', {'data-label': 'Attempt', class: 'num'}, a.attempt),
        h('td', {'data-label': 'Worker'}, a.worker ? h('a', {href: workerHref(a.worker)}, a.worker) : '–'),
        h('td', {'data-label': 'Started', class: 'num'}, fmtTime(a.started_ms)),
        h('td', {'data-label': 'Took', class: 'num'}, a.ended_ms ? fmtDur((a.ended_ms - a.started_ms) / 1000) : 'running'),
        h('td', {'data-label': 'Outcome'}, a.outcome || '–',
          a.error ? h('div', {class: 'error'}, a.error) : null,
          a.log_tail && a.log_tail.length ? h('details', null, h('summary', null, 'log'), h('pre', {class: 'log'}, a.log_tail.join('\n'))) : null));
    });
    var history = (j.history || []).map(function (x) {
      return h('tr', null,
        h('td', {'data-label': 'Time', class: 'num'}, fmtTime(x.time_ms)),
        h('td', {'data-label': 'Change'}, (x.from || '–') + ' → ' + (x.to || '–')),
        h('td', {'data-label': 'Event'}, x.event || ''),
        h('td', {'data-label': 'Attempt', class: 'num'}, x.attempt),
        h('td', {'data-label': 'Note'}, x.note || ''));
    });
    return h('div', {id: 'job', 'data-job': j.job_id, 'data-state': j.state, 'data-phase': ACTIVE[j.state] ? p.phase : null},
      h('a', {href: '#/jobs'}, '‹ All jobs'),
      h('div', {class: 'card-head'}, h('h1', {class: 'job-name'}, j.name || j.job_id), jobStatePills(j)),
      h('div', {class: 'card'},
        ACTIVE[j.state] || j.state === 'done' ? progressBar(j.progress, j.state, isStalled(j)) : null,
        kv([
          ['Job', h('span', {class: 'mono'}, j.job_id)],
          ['Phase', ACTIVE[j.state] ? p.phase : null],
          ['Frames', num(p.frames) ? p.frames + (num(p.frames_total) ? ' / ' + p.frames_total : '') : null],
          ['fps', num(p.fps) ? p.fps.toFixed(1) : null],
          ['Speed', num(p.speed) ? p.speed.toFixed(2) + '×' : null],
          ['ETA', e !== null ? fmtDur(e) : null, 'eta'],
          ['Stalled', isStalled(j) ? 'no progress for ' + fmtDur(p.idle_s) + (p.last_progress_ms ? ' (last at ' + fmtTime(p.last_progress_ms) + ')' : '') : null, 'stalled'],
          ['Waiting', j.waiting ? j.waiting.reason : null],
          ['Retry after', j.next_attempt_ms ? fmtTime(j.next_attempt_ms) : null],
          ['Error', j.error ? h('span', {class: 'error'}, j.error) : null, 'error'],
          ['Attempt', j.attempt + ' of ' + j.max_attempts],
          ['Worker', j.worker ? h('a', {href: workerHref(j.worker)}, j.worker) : null],
          ['Encoder', j.encoder ? j.encoder.encoder + ' (' + j.encoder.plugin + ', ' + j.encoder.device_id + ')' : null],
          ['Profile', h('span', {class: 'mono'}, prof)],
          ['Priority', j.prio_class + (j.priority ? ' ' + j.priority : '')],
          ['Input', num(j.input_size) ? fmtBytes(j.input_size) : null],
          ['Outcome', j.outcome ? j.outcome + (j.note ? ': ' + j.note : '') : null],
          ['Output', j.output ? (j.output.name || '') + ' ' + fmtBytes(j.output.size) : null],
          ['Submitted', fmtTime(j.created_ms)],
          ['Updated', fmtTime(j.updated_ms)]
        ]),
        h('div', {class: 'actions'}, jobControls(j))),
      h('h2', null, 'Attempts'),
      attempts.length ? h('div', {class: 'card table-card'}, h('table', {class: 'stack', id: 'attempts'},
        h('thead', null, h('tr', null, ['#', 'Worker', 'Started', 'Took', 'Outcome'].map(function (t) { return h('th', null, t); }))),
        h('tbody', null, attempts))) : h('p', {class: 'muted'}, 'None yet.'),
      h('h2', null, 'History'),
      history.length ? h('div', {class: 'card table-card'}, h('table', {class: 'stack', id: 'history'},
        h('thead', null, h('tr', null, ['Time', 'Change', 'Event', 'Attempt', 'Note'].map(function (t) { return h('th', null, t); }))),
        h('tbody', null, history))) : h('p', {class: 'muted'}, 'None.'));
  }

  function field(label, input, wide) {
    return h('div', {class: wide ? 'wide' : null}, h('label', {for: input.id}, label), input);
  }
  function select(id, opts, value) {
    return h('select', {id: id, name: id}, opts.map(function (o) { return h('option', {value: o, selected: o === value}, o || '(default)'); }));
  }
  function randomKey() {
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return 'web-' + Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }
  function viewSubmit() {
    if (!can('jobs.submit')) return h('div', null, h('h1', null, 'Submit a job'),
      h('p', null, loggedIn() ? 'Your role (' + role() + ') cannot submit jobs.' : 'Submitting needs a submitter or operator token. ', loggedIn() ? null : h('a', {href: '#/login'}, 'Log in')));
    /* One key per form: a double click or a retried request submits once. */
    var key = randomKey();
    var msg = h('p', {class: 'error', id: 'submit-error'});
    var form = h('form', {class: 'form', id: 'submit-form', onsubmit: function (ev) {
      ev.preventDefault();
      var v = function (id) { return $(id).value.trim(); };
      var profile = {codec: v('f-codec')};
      if (v('f-encoder')) profile.encoder = v('f-encoder');
      if (v('f-crf')) profile.crf = Number(v('f-crf'));
      if (v('f-preset')) profile.preset = v('f-preset');
      if (v('f-container')) profile.container = v('f-container');
      var bad = '';
      v('f-extra').split(/\n/).forEach(function (line) {
        line = line.trim();
        if (!line) return;
        var i = line.indexOf('=');
        if (i <= 0) { bad = 'more options: "' + line + '" is not key=value'; return; }
        profile[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      });
      if (bad) { msg.textContent = bad; return; }
      var body = {input: {kind: v('f-kind'), source: v('f-source')}, profile: profile,
        prio_class: v('f-prio'), priority: Number(v('f-priority') || 0), max_attempts: Number(v('f-attempts') || 3)};
      if (v('f-name')) body.input.name = v('f-name');
      var btn = $('f-go');
      btn.disabled = true;
      msg.textContent = '';
      api('POST', '/jobs', body, {'Idempotency-Key': key}).then(function (d) {
        location.hash = jobHref(d.job_id);
      }, function (e) { btn.disabled = false; msg.textContent = errText(e); });
    }},
    field('Input', select('f-kind', ['path', 'url'], 'path')),
    field('Path on shared storage or URL', h('input', {id: 'f-source', required: true, placeholder: '/srv/media/in.mkv or https://…', autocomplete: 'off'})),
    field('Name (optional)', h('input', {id: 'f-name', placeholder: 'the base name of the input', autocomplete: 'off'}), true),
    field('Codec', select('f-codec', ['h264', 'hevc', 'av1', 'vp9'], 'h264')),
    field('Encoder', h('input', {id: 'f-encoder', placeholder: 'auto', autocomplete: 'off'})),
    field('CRF', h('input', {id: 'f-crf', type: 'number', min: 0, max: 63, step: 'any', placeholder: 'codec default'})),
    field('Preset', select('f-preset', ['', 'ultrafast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'], '')),
    field('Container', select('f-container', ['', 'mkv', 'mp4', 'ts'], '')),
    field('Priority class', select('f-prio', ['low', 'normal', 'high'], 'normal')),
    field('Priority (−1000..1000)', h('input', {id: 'f-priority', type: 'number', min: -1000, max: 1000, value: 0})),
    field('Max attempts', h('input', {id: 'f-attempts', type: 'number', min: 1, max: 100, value: 3})),
    field('More options (key=value a line, as distconvctl submit --KEY VALUE)', h('textarea', {id: 'f-extra', rows: 3, placeholder: 'max-height=720\naudio=aac'}), true),
    h('div', {class: 'wide actions'}, h('button', {type: 'submit', class: 'primary', id: 'f-go'}, 'Submit')),
    h('div', {class: 'wide'}, msg));
    return h('div', null, h('h1', null, 'Submit a job'),
      h('p', {class: 'muted'}, 'For files the coordinator can read (inputs.shared_roots) or URLs; upload local files with ', h('code', null, 'distconvctl submit FILE'), '.'),
      form);
  }

  function viewLogin(why) {
    var msg = h('p', {class: 'error', id: 'login-error'});
    var input = h('input', {id: 'token', type: 'password', autocomplete: 'off', placeholder: 'dcv_…', required: true});
    var form = h('form', {class: 'login card', id: 'login-form', onsubmit: function (ev) {
      ev.preventDefault();
      msg.textContent = '';
      api('POST', '/login', {token: input.value.trim()}).then(function (d) {
        S.csrf = d.csrf || '';
        input.value = '';
        return loadWhoami().then(function () {
          clearError(); connect(); refresh();
          location.hash = can('workers.read') ? '#/transcoders' : '#/jobs';
        });
      }, function (e) { msg.textContent = errText(e); });
    }},
    field('API token', input),
    h('p', {class: 'muted'}, 'Made by an operator with ', h('code', null, 'distconvctl token create --name NAME --role viewer|submitter|operator'), '. The page keeps a session cookie, not the token.'),
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'login-go'}, 'Log in')),
    msg);
    return h('div', null, h('h1', null, 'Log in'), why ? h('p', null, why) : null,
      loggedIn() ? h('p', null, 'Logged in as ', h('b', null, S.me.name), ' (', S.me.role, ').') : null, form);
  }

  function logout() {
    api('POST', '/logout', {}).then(function () {
      S.csrf = '';
      S.wdetail = {};
      return loadWhoami().then(function () { connect(); refresh(); renderNow(true); });
    }, showError);
  }

  /* ---- start ---- */
  function onRoute(ev) {
    var r = route();
    if (ev) clearError(); /* a new page: the last one's error is old */
    if (r.name === 'job') { if (!S.job || S.job.job_id !== r.id) { S.job = null; S.jobErr = ''; } loadJob(r.id); }
    if (r.name === 'jobs') S.loaded.jobs = false;
    if (r.name === 'jobs' || r.name === 'transcoders') loadJobs(); /* names of running jobs */
    renderNow(true);
    window.scrollTo(0, 0);
  }
  document.addEventListener('DOMContentLoaded', function () {
    $('banner-close').addEventListener('click', clearError);
    $('main').addEventListener('click', onAction);
    window.addEventListener('hashchange', onRoute);
    loadWhoami().then(function () {
      connect();
      loadWorkers();
      onRoute(null);
    });
    /* Ages ("last seen 5 s ago") and ETAs move without events. */
    setInterval(function () { if (route().name !== 'submit' && route().name !== 'login') render(); }, 5000);
  });
})();
