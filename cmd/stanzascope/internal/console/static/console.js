// stanzascope console: an XMPP client over WebSocket (RFC 7395) that shows every frame.
'use strict';

const NS = {
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  streams: 'http://etherx.jabber.org/streams',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  register: 'jabber:iq:register',
  client: 'jabber:client',
};

const $ = (id) => document.getElementById(id);
const conn = { ws: null, features: null, waiters: [], jid: '', authed: false, seq: 0 };
// What the page shows of the stream: window.stanzascopeConsole for tests and curious students.
window.stanzascopeConsole = { state: 'closed', jid: '', frames: [] };

function setState(state, text) {
  window.stanzascopeConsole.state = state;
  document.body.dataset.state = state;
  $('status').textContent = text;
}

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

// mask hides the password in what the page shows (register, PLAIN): the frames on the
// wire are not changed.
function mask(xml) {
  let out = xml.replace(/(<password>)[^<]*(<\/password>)/g, '$1••••••$2');
  out = out.replace(/(<auth [^>]*mechanism=['"]PLAIN['"][^>]*>)[^<]*(<\/auth>)/g, '$1(hidden: it holds the password)$2');
  return out;
}

function show(dir, text) {
  const div = document.createElement('div');
  div.className = 'frame ' + dir;
  const label = document.createElement('b');
  label.textContent = dir === 'c2s' ? 'sent' : dir === 's2c' ? 'received' : 'note';
  div.append(label, document.createTextNode(dir === 'info' ? text : mask(text)));
  const stream = $('stream');
  stream.append(div);
  stream.scrollTop = stream.scrollHeight;
  window.stanzascopeConsole.frames.push({ dir, text: dir === 'info' ? text : mask(text) });
}

function parse(xml) {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) return null;
  return doc.documentElement;
}

function send(xml) {
  if (!conn.ws || conn.ws.readyState !== WebSocket.OPEN) throw new Error('not connected');
  conn.ws.send(xml);
  show('c2s', xml);
}

// waitFor resolves with the next received element that match accepts.
function waitFor(match, what, ms = 15000) {
  return new Promise((resolve, reject) => {
    const w = { match, resolve, reject };
    w.timer = setTimeout(() => {
      conn.waiters = conn.waiters.filter((x) => x !== w);
      reject(new Error('no answer: ' + what));
    }, ms);
    conn.waiters.push(w);
  });
}

function onFrame(text) {
  show('s2c', text);
  const el = parse(text);
  if (!el) {
    show('info', 'the server sent a frame that is not well-formed XML');
    return;
  }
  if (el.namespaceURI === NS.streams && el.localName === 'features') conn.features = el;
  if (el.namespaceURI === NS.streams && el.localName === 'error') {
    const cond = el.firstElementChild ? el.firstElementChild.localName : 'unknown';
    setState('error', 'Stream error from the server: ' + cond);
  }
  if (el.namespaceURI === NS.framing && el.localName === 'close') {
    if (conn.ws) conn.ws.close(1000);
  }
  for (const w of [...conn.waiters]) {
    if (w.match(el)) {
      clearTimeout(w.timer);
      conn.waiters = conn.waiters.filter((x) => x !== w);
      w.resolve(el);
    }
  }
}

function openFrame() {
  return "<open xmlns='" + NS.framing + "' to='" + esc($('domain').value.trim()) + "' version='1.0'/>";
}

// restart opens a (new) stream and waits for its features.
async function restart() {
  conn.features = null;
  const got = waitFor((el) => el.namespaceURI === NS.streams && el.localName === 'features', 'stream features');
  send(openFrame());
  return got;
}

async function ensureStream() {
  if (conn.ws && conn.ws.readyState === WebSocket.OPEN && conn.features) return conn.features;
  await new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket($('url').value.trim(), 'xmpp');
    } catch (e) {
      reject(e);
      return;
    }
    conn.ws = ws;
    conn.authed = false;
    conn.jid = '';
    ws.onopen = () => {
      show('info', 'WebSocket open (' + ws.url + ', subprotocol ' + (ws.protocol || 'none') + ')');
      resolve();
    };
    ws.onerror = () => reject(new Error('the WebSocket could not be opened'));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        show('info', 'the server sent a binary message: XMPP uses text messages only');
        return;
      }
      onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      show('info', 'WebSocket closed (' + ev.code + (ev.reason ? ', ' + ev.reason : '') + ')');
      for (const w of conn.waiters) { clearTimeout(w.timer); w.reject(new Error('the connection closed')); }
      conn.waiters = [];
      conn.ws = null;
      conn.features = null;
      window.stanzascopeConsole.jid = '';
      if (window.stanzascopeConsole.state !== 'error') setState('closed', 'Not connected.');
    };
  });
  setState('connected', 'Connected: stream opened.');
  return restart();
}

function iqID(prefix) { conn.seq++; return prefix + conn.seq; }

function answerTo(id) {
  return (el) => el.localName === 'iq' && el.getAttribute('id') === id && (el.getAttribute('type') === 'result' || el.getAttribute('type') === 'error');
}

function errorText(el) {
  const e = [...el.children].find((c) => c.localName === 'error');
  if (!e) return 'error';
  const text = [...e.children].find((c) => c.localName === 'text');
  const cond = [...e.children].find((c) => c.localName !== 'text');
  return (cond ? cond.localName : 'error') + (text ? ': ' + text.textContent : '');
}

// Register an account in-band (XEP-0077), as the textbook's step 3.
async function register() {
  const user = $('user').value.trim();
  const pass = $('password').value;
  if (!user || !pass) throw new Error('give a username and a password');
  await ensureStream();
  const id = iqID('reg');
  const ans = waitFor(answerTo(id), 'registration');
  send("<iq xmlns='" + NS.client + "' type='set' id='" + id + "'><query xmlns='" + NS.register + "'><username>" + esc(user) + '</username><password>' + esc(pass) + '</password></query></iq>');
  const el = await ans;
  if (el.getAttribute('type') === 'error') {
    setState('connected', 'Registration refused: ' + errorText(el));
    return;
  }
  setState('registered', 'Registered ' + user + '@' + $('domain').value.trim() + '. Now log in.');
}

// ----- SASL -----

const enc = new TextEncoder();
const dec = new TextDecoder();
function b64(bytes) { let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); }
function unb64(s) { const bin = atob(s.trim()); const out = new Uint8Array(bin.length); for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out; }
function attrs(msg) { const m = {}; for (const part of msg.split(',')) { const i = part.indexOf('='); if (i > 0) m[part.slice(0, i)] = part.slice(i + 1); } return m; }

function loopback() {
  const h = location.hostname;
  return h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h);
}

// plainAllowed: PLAIN sends the password itself; only over the page's own TLS or on this
// machine, where nobody else is on the path.
function plainAllowed() { return location.protocol === 'https:' || loopback(); }

function saslAnswer() {
  return (el) => el.namespaceURI === NS.sasl && ['challenge', 'success', 'failure'].includes(el.localName);
}

async function hmac(keyBytes, data, hash) {
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, typeof data === 'string' ? enc.encode(data) : data));
}

async function scram(mech) {
  const hash = mech === 'SCRAM-SHA-256' ? 'SHA-256' : 'SHA-1';
  const bits = hash === 'SHA-256' ? 256 : 160;
  const user = $('user').value.trim().replace(/=/g, '=3D').replace(/,/g, '=2C');
  const pass = $('password').value;
  const cnonce = b64(crypto.getRandomValues(new Uint8Array(18)));
  const first = 'n=' + user + ',r=' + cnonce;
  let ans = waitFor(saslAnswer(), 'SASL challenge');
  send("<auth xmlns='" + NS.sasl + "' mechanism='" + mech + "'>" + b64(enc.encode('n,,' + first)) + '</auth>');
  let el = await ans;
  if (el.localName !== 'challenge') throw new Error('SASL: ' + (el.firstElementChild ? el.firstElementChild.localName : el.localName));
  const serverFirst = dec.decode(unb64(el.textContent));
  const a = attrs(serverFirst);
  const iter = parseInt(a.i, 10);
  if (!a.r || !a.r.startsWith(cnonce) || !a.s || !(iter > 0 && iter <= 10000000)) throw new Error('SASL: the server\'s challenge is not SCRAM');
  const pw = await crypto.subtle.importKey('raw', enc.encode(pass), 'PBKDF2', false, ['deriveBits']);
  const salted = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', salt: unb64(a.s), iterations: iter, hash }, pw, bits));
  const clientKey = await hmac(salted, 'Client Key', hash);
  const storedKey = new Uint8Array(await crypto.subtle.digest(hash, clientKey));
  const finalNoProof = 'c=biws,r=' + a.r;
  const authMessage = first + ',' + serverFirst + ',' + finalNoProof;
  const clientSig = await hmac(storedKey, authMessage, hash);
  const proof = clientKey.map((b, i) => b ^ clientSig[i]);
  const serverSig = b64(await hmac(await hmac(salted, 'Server Key', hash), authMessage, hash));
  ans = waitFor(saslAnswer(), 'SASL result');
  send("<response xmlns='" + NS.sasl + "'>" + b64(enc.encode(finalNoProof + ',p=' + b64(proof))) + '</response>');
  el = await ans;
  if (el.localName !== 'success') throw new Error('SASL: ' + (el.firstElementChild ? el.firstElementChild.localName : el.localName));
  const v = attrs(dec.decode(unb64(el.textContent || ''))).v;
  if (v !== serverSig) throw new Error('SASL: the server did not prove it knows the password (wrong server signature)');
}

async function plain() {
  const ans = waitFor(saslAnswer(), 'SASL result');
  send("<auth xmlns='" + NS.sasl + "' mechanism='PLAIN'>" + b64(enc.encode('\0' + $('user').value.trim() + '\0' + $('password').value)) + '</auth>');
  const el = await ans;
  if (el.localName !== 'success') throw new Error('SASL: ' + (el.firstElementChild ? el.firstElementChild.localName : el.localName));
}

function offered(features) {
  const m = [...features.children].find((c) => c.namespaceURI === NS.sasl && c.localName === 'mechanisms');
  return m ? [...m.children].map((c) => c.textContent.trim()) : [];
}

async function login() {
  if (!$('user').value.trim() || !$('password').value) throw new Error('give a username and a password');
  const features = await ensureStream();
  if (conn.authed) throw new Error('already logged in');
  const mechs = offered(features);
  const scramOK = !!(window.crypto && crypto.subtle);
  let mech = $('mech').value;
  if (mech === 'auto') {
    mech = ['SCRAM-SHA-256', 'SCRAM-SHA-1'].find((m) => scramOK && mechs.includes(m)) || (plainAllowed() && mechs.includes('PLAIN') ? 'PLAIN' : '');
  }
  if (!mech) throw new Error('no mechanism this page can use: SCRAM needs WebCrypto (https or this machine), PLAIN needs https or this machine');
  if (!mechs.includes(mech)) throw new Error('the server does not offer ' + mech);
  if (mech === 'PLAIN' && !plainAllowed()) throw new Error('PLAIN would send the password itself over plain http: open this page over https or on this machine');
  if (mech.startsWith('SCRAM') && !scramOK) throw new Error('SCRAM needs WebCrypto, which browsers give pages over https or on this machine only');
  setState('authenticating', 'Logging in with ' + mech + '…');
  if (mech === 'PLAIN') await plain(); else await scram(mech);
  conn.authed = true;
  await restart(); // RFC 6120 section 6.4.6: a new stream after SASL success
  const id = iqID('bind');
  const ans = waitFor(answerTo(id), 'resource binding');
  send("<iq xmlns='" + NS.client + "' type='set' id='" + id + "'><bind xmlns='" + NS.bind + "'><resource>console</resource></bind></iq>");
  const el = await ans;
  if (el.getAttribute('type') !== 'result') throw new Error('binding refused: ' + errorText(el));
  const jidEl = el.getElementsByTagNameNS(NS.bind, 'jid')[0];
  conn.jid = jidEl ? jidEl.textContent : '';
  window.stanzascopeConsole.jid = conn.jid;
  setState('online', 'Logged in as ' + conn.jid + ' (' + mech + '). Send your initial presence (step 5) from the composer.');
}

function disconnect() {
  if (!conn.ws) return;
  try { send("<close xmlns='" + NS.framing + "'/>"); } catch (e) { conn.ws.close(1000); }
}

// ----- the composer -----

function templates() {
  const d = $('domain').value.trim() || 'localhost';
  const c = "xmlns='" + NS.client + "'";
  return [
    ['2. Ask how to register', "<iq " + c + " type='get' id='reg-ask'><query xmlns='jabber:iq:register'/></iq>"],
    ['5. Initial presence', '<presence ' + c + '/>'],
    ['6. Chat message', '<message ' + c + " to='dana@" + d + "' type='chat'><body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique.</body></message>"],
    ['Roster: get it', "<iq " + c + " type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>"],
    ['Roster: add a contact', "<iq " + c + " type='set' id='roster2'><query xmlns='jabber:iq:roster'><item jid='dana@" + d + "' name='Dana'/></query></iq>"],
    ['Ask to see a contact\'s presence', '<presence ' + c + " to='dana@" + d + "' type='subscribe'/>"],
    ['Let a contact see yours', '<presence ' + c + " to='dana@" + d + "' type='subscribed'/>"],
    ['Ping the server', "<iq " + c + " type='get' id='ping1' to='" + d + "'><ping xmlns='urn:xmpp:ping'/></iq>"],
    ['Unavailable presence', '<presence ' + c + " type='unavailable'/>"],
    ['Close the stream', "<close xmlns='" + NS.framing + "'/>"],
  ];
}

function fillTemplates() {
  const sel = $('template');
  sel.textContent = '';
  const none = document.createElement('option');
  none.value = '';
  none.textContent = 'choose a step…';
  sel.append(none);
  for (const [name, xml] of templates()) {
    const o = document.createElement('option');
    o.value = xml;
    o.textContent = name;
    sel.append(o);
  }
}

// sendComposed sends the composer's text if it is one well-formed element (RFC 7395: one
// element per frame); otherwise it says why and sends nothing.
function sendComposed() {
  const text = $('compose').value.trim();
  $('compose-error').textContent = '';
  if (!text) return;
  const el = parse(text);
  if (!el) {
    $('compose-error').textContent = 'not one well-formed XML element: nothing sent';
    return;
  }
  if (!el.getAttribute('xmlns') && !el.prefix) {
    $('compose-error').textContent = "each frame declares its namespace: add xmlns='jabber:client'";
    return;
  }
  try {
    send(text);
  } catch (e) {
    $('compose-error').textContent = e.message;
  }
}

function guard(fn) {
  return () => fn().catch((e) => { setState(window.stanzascopeConsole.state === 'online' ? 'online' : 'failed', e.message); show('info', e.message); });
}

document.addEventListener('DOMContentLoaded', () => {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  $('url').value = scheme + '//' + location.host + '/xmpp-websocket';
  const q = new URLSearchParams(location.search);
  if (q.get('domain')) $('domain').value = q.get('domain');
  fillTemplates();
  $('domain').addEventListener('change', fillTemplates);
  $('template').addEventListener('change', () => { if ($('template').value) $('compose').value = $('template').value; });
  $('register').addEventListener('click', guard(register));
  $('login').addEventListener('click', guard(login));
  $('disconnect').addEventListener('click', disconnect);
  $('send').addEventListener('click', sendComposed);
  $('compose').addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) sendComposed(); });
  setState('closed', 'Not connected.');
});
