// The wall screen: reads /live/stream (Server-Sent Events, authenticated by
// the HttpOnly cookie that /wall/login sets) and draws the figures; no
// library, no asset from elsewhere.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const STATE = {
    AGENT_STATE_READY: ['ready', '就绪'], AGENT_STATE_ON_CALL: ['on_call', '通话'],
    AGENT_STATE_RINGING: ['ringing', '振铃'], AGENT_STATE_WRAP_UP: ['wrap_up', '话后'],
    AGENT_STATE_PAUSED: ['paused', '示忙'], AGENT_STATE_LOGGED_OUT: ['logged_out', '离线'],
  };
  const SVGNS = 'http://www.w3.org/2000/svg';
  let es = null, retryTimer = null, lastEvent = 0, snap = null, failure = null, connected = false;

  const num = (v) => Number(v || 0);
  const pct = (r) => (r === undefined || r === null) ? '—' : (r * 100).toFixed(1) + '%';
  const waitText = (s) => s < 100 ? s + '<small>秒</small>' : Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');

  function setText(id, v) { const el = $(id); if (el.textContent !== String(v)) el.textContent = v; }

  function banner() {
    const b = $('banner'), st = $('status');
    let msg = '', warn = false;
    if (!connected) { msg = '连接中断 · 正在重连…'; }
    else if (failure) { msg = '数据暂不可用 · 显示最后数据'; warn = true; }
    else if (snap && !snap.ready) { msg = '网关未就绪（未连接交换机），数据仍为实时'; warn = true; }
    b.hidden = msg === '';
    b.textContent = msg;
    b.classList.toggle('warn', warn);
    st.className = 'status ' + (!connected ? 'down' : (failure || (snap && !snap.ready)) ? 'connecting' : 'live');
    st.textContent = !connected ? '连接中断' : failure ? '数据中断' : (snap && !snap.ready) ? '未就绪' : '实时';
    document.body.dataset.connected = connected ? '1' : '0';
  }

  function render(s) {
    snap = s;
    const t = s.total || {};
    const target = num(s.answerTargetSeconds) || 15;
    setText('waiting', num(t.waiting));
    $('oldest').innerHTML = waitText(num(t.oldestWaitSeconds));
    setText('target-label', target + '秒接通率');
    setText('target-rate', pct(t.targetRate));
    setText('connect-rate', pct(t.connectRate));
    setText('connect-target', '目标 ≥' + Math.round(num(s.connectRateTarget) * 100) + '%');
    setText('inbound', num(t.inbound));
    setText('outbound', num(t.outbound));
    setText('answered', num(t.answered));
    setText('abandoned', num(t.abandoned));
    setText('shed', num(t.shed));
    for (const id of ['inbound', 'outbound', 'answered', 'shed', 'abandoned']) $(id).classList.toggle('long', $(id).textContent.length > 4);
    const oldAlarm = num(t.waiting) > 0 && num(t.oldestWaitSeconds) > target;
    const rateAlarm = t.connectRate !== undefined && t.connectRate !== null && t.connectRate < num(s.connectRateTarget);
    $('kpi-oldest').classList.toggle('alarm', oldAlarm);
    $('kpi-waiting').classList.toggle('alarm', oldAlarm);
    $('kpi-connect').classList.toggle('alarm', rateAlarm);
    $('kpi-target').classList.toggle('alarm', t.targetRate !== undefined && t.targetRate !== null && t.targetRate < num(s.connectRateTarget));
    document.body.dataset.alarm = t.alarm ? '1' : '0';
    // Calls refused with congestion in the last minute: the gateway (or
    // Asterisk) is saturated right now.
    const recent = num(t.shedLastMinute);
    $('kpi-shed').classList.toggle('alarm', recent > 0);
    $('shed-warning').hidden = recent === 0;
    setText('shed-warning', recent > 0 ? '系统拥塞 · 正在拒接来电：近1分钟拥塞拒接 ' + recent + ' 通（今日共 ' + num(t.shed) + ' 通）' : '');
    document.body.dataset.shedding = recent > 0 ? '1' : '0';
    $('target-rate').dataset.value = t.targetRate === undefined || t.targetRate === null ? '' : String(t.targetRate);
    $('connect-rate').dataset.value = t.connectRate === undefined || t.connectRate === null ? '' : String(t.connectRate);
    lines(s.lines || []);
    hours(s.hours || []);
    agents(s.agents || [], s.agentCounts || {});
    skills(s.skills || [], target);
    setText('to110', num(t.transfersTo110));
    setText('from110', num(t.from110));
    setText('satisfaction', pct(t.satisfactionRate));
    setText('satisfied', num(t.satisfied) + ' / ' + num(t.unsatisfied));
    const at = s.at ? new Date(s.at) : new Date();
    setText('updated', '数据时间 ' + at.toLocaleTimeString('zh-CN', { hour12: false }) + ' · ' + (s.day || ''));
    setText('served-by', '实例 ' + (s.instance || ''));
  }

  function lines(ls) {
    const box = $('line-bars');
    const max = Math.max(1, ...ls.map((l) => num(l.figures && l.figures.inbound)));
    if (box.children.length !== ls.length) {
      box.textContent = '';
      for (const l of ls) {
        const row = document.createElement('div');
        row.className = 'line-row';
        row.dataset.line = l.line;
        row.innerHTML = '<div class="line-name"></div><div class="bars"><div class="bar in"><i></i><span></span></div>' +
          '<div class="bar ans"><i></i><span></span></div></div><div class="line-wait"></div>';
        box.appendChild(row);
      }
    }
    ls.forEach((l, i) => {
      const f = l.figures || {}, row = box.children[i];
      row.dataset.line = l.line;
      row.dataset.inbound = num(f.inbound);
      row.dataset.answered = num(f.answered);
      row.dataset.waiting = num(f.waiting);
      row.dataset.shed = num(f.shed);
      row.classList.toggle('shedding', num(f.shedLastMinute) > 0);
      row.classList.toggle('alarm', !!f.alarm);
      row.querySelector('.line-name').innerHTML = '';
      row.querySelector('.line-name').append(l.line, Object.assign(document.createElement('small'), { textContent: l.name || '' }));
      const [bin, bans] = row.querySelectorAll('.bar');
      bin.firstChild.style.width = (100 * num(f.inbound) / max) + '%';
      bin.lastChild.textContent = '呼入 ' + num(f.inbound) + (num(f.shed) > 0 ? ' · 拒接 ' + num(f.shed) : '');
      bans.firstChild.style.width = (100 * num(f.answered) / max) + '%';
      bans.lastChild.textContent = '接通 ' + num(f.answered);
      row.querySelector('.line-wait').textContent = num(f.waiting);
    });
  }

  function el(name, attrs, text) {
    const e = document.createElementNS(SVGNS, name);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function hours(hs) {
    const svg = $('hour-chart'), W = 760, H = 330, top = 10, base = H - 26, slot = W / 24;
    const max = Math.max(1, ...hs.map((h) => num(h.inbound)));
    const now = new Date().getHours();
    svg.textContent = '';
    for (const [i, f] of [[0, 0.25], [1, 0.5], [2, 0.75], [3, 1]]) {
      const y = base - f * (base - top);
      svg.appendChild(el('line', { x1: 0, x2: W, y1: y, y2: y, stroke: '#1f3a6b', 'stroke-width': 1 }));
      if (i === 3) svg.appendChild(el('text', { x: 2, y: y + 16 }, String(max)));
    }
    hs.forEach((h, i) => {
      const x = i * slot, bw = (slot - 6) / 3;
      const bars = [[num(h.inbound), '#3b82f6'], [num(h.answered), '#22c55e'], [num(h.abandoned), '#f97316']];
      bars.forEach(([v, c], j) => {
        const bh = (base - top) * v / max;
        svg.appendChild(el('rect', { x: x + 3 + j * bw, y: base - bh, width: bw, height: bh, fill: c }));
      });
      if (i % 2 === 0) {
        const attrs = { x: x + 2, y: H - 6 };
        if (i === now) attrs.fill = '#e8f0ff';
        svg.appendChild(el('text', attrs, String(i).padStart(2, '0')));
      }
    });
  }

  function agents(as, c) {
    const grid = $('agent-grid');
    grid.textContent = '';
    for (const a of as) {
      const [cls, label] = STATE[a.state] || ['logged_out', '未知'];
      const d = document.createElement('div');
      d.className = 'agent ' + cls;
      d.dataset.ext = a.extension;
      d.dataset.state = cls;
      const b = document.createElement('b');
      b.textContent = a.extension;
      d.append(b, label + (a.line ? ' · ' + a.line : ''));
      grid.appendChild(d);
    }
    setText('agent-summary', '在线 ' + num(c.loggedIn) + ' · 就绪 ' + num(c.ready) + ' · 通话 ' + num(c.onCall) +
      ' · 振铃 ' + num(c.ringing) + ' · 话后 ' + num(c.wrapUp) + ' · 示忙 ' + num(c.paused));
  }

  function skills(ss, target) {
    const box = $('skill-list');
    box.textContent = '';
    for (const s of ss) {
      const d = document.createElement('div');
      d.className = 'skill' + (num(s.waiting) > 0 && num(s.oldestWaitSeconds) > target ? ' alarm' : '');
      d.dataset.skill = s.skill;
      const b = document.createElement('b');
      b.textContent = num(s.waiting);
      d.append(b, s.skill + ' · 最长 ' + num(s.oldestWaitSeconds) + '秒 · 就绪 ' + num(s.agents && s.agents.ready));
      box.appendChild(d);
    }
  }

  function showLogin(msg) {
    if (es) { es.close(); es = null; }
    $('login').hidden = false;
    $('login-error').textContent = msg || '';
    $('token').focus();
  }

  // connect opens the stream; on a cut the browser reconnects by itself
  // (retry: 1000); a refused stream (401/403) closes it: then ask why.
  function connect() {
    clearTimeout(retryTimer);
    if (es) es.close();
    es = new EventSource('/live/stream');
    es.addEventListener('snapshot', (e) => { lastEvent = Date.now(); connected = true; failure = null; render(JSON.parse(e.data)); banner(); });
    es.addEventListener('failure', (e) => { lastEvent = Date.now(); connected = true; failure = JSON.parse(e.data); banner(); });
    es.addEventListener('ping', () => { lastEvent = Date.now(); connected = true; banner(); });
    es.onopen = () => { lastEvent = Date.now(); };
    es.onerror = () => {
      connected = false;
      banner();
      if (es.readyState === EventSource.CLOSED) {
        fetch('/live/snapshot', { credentials: 'same-origin', cache: 'no-store' }).then((r) => {
          if (r.status === 401 || r.status === 403) {
            return r.json().then((j) => showLogin(j.code === 'missing_token' ? '' : '令牌无效或无权限（' + j.code + '）'));
          }
          retryTimer = setTimeout(connect, 2000);
        }).catch(() => { retryTimer = setTimeout(connect, 2000); });
      }
    };
  }

  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const body = new URLSearchParams({ token: $('token').value });
    fetch('/wall/login', { method: 'POST', body, credentials: 'same-origin' }).then((r) => {
      if (r.ok) { $('token').value = ''; $('login').hidden = true; connect(); return; }
      return r.json().then((j) => { $('login-error').textContent = '登录失败：' + j.message + '（' + j.code + '）'; });
    }).catch(() => { $('login-error').textContent = '连接中断，无法登录'; });
  });
  $('logout').addEventListener('click', () => {
    fetch('/wall/logout', { method: 'POST', credentials: 'same-origin' }).finally(() => showLogin(''));
  });

  setInterval(() => {
    setText('clock', new Date().toLocaleTimeString('zh-CN', { hour12: false }));
    // The stream pings every 15 s: silence for 40 s is a dead connection.
    if (es && connected && Date.now() - lastEvent > 40000) { connected = false; banner(); connect(); }
  }, 1000);
  banner();
  connect();
})();
