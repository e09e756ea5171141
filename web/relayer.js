import { html, short, Status, when } from './api.js'

/** The operator's page: readiness, each chain's head and lag beside its pending writes and funds, peers, webhooks. */
export function RelayerPage({ status }) {
  const s = status.data
  if (!s)
    return html`<h1>Relayer</h1>
      <${Status} error=${status.error} loading=${!status.error} />`
  return html`
    <h1>
      Relayer <code>${s.relayerId}</code>
      <span class=${`pill ${s.ready ? 'ok' : 'bad'}`}>${s.ready ? 'ready' : 'not ready'}</span>
    </h1>
    <${Status} error=${status.error} />
    <p class="muted">
      identity <code>${short(s.identity, 10)}</code> · version ${s.version} · quorum threshold ${s.threshold}
      · store ${s.store ? 'writable' : 'NOT writable'} · ${s.running ? 'running' : 'standing by'}
    </p>
    <h2>Chains</h2>
    <div class="scroll">
      <table class="chains">
        <thead>
          <tr>
            <th>Chain</th>
            <th>Ready</th>
            <th class="num">Head</th>
            <th class="num">Lag</th>
            <th class="num">Synced to</th>
            <th class="num">Pending writes</th>
            <th class="num">Settlements funded</th>
          </tr>
        </thead>
        <tbody>
          ${Object.entries(s.chains).map(
            ([chain, c]) =>
              html` <tr data-chain=${chain}>
                <td>${chain}</td>
                <td>${c.ready ? '✓' : html`<span class="error">${c.stopped ?? 'no'}</span>`}</td>
                <td class="num">${c.head ?? '—'}</td>
                <td class="num">${c.lag ?? '—'}</td>
                <td class="num">${c.checkpoint ?? '—'}</td>
                <td class="num">${c.pendingSubmissions ?? 0}</td>
                <td class="num">${c.fundedSettlements ?? '—'}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <h2>Peers</h2>
    ${
      s.peers.length === 0
        ? html`<p class="muted">A quorum of one: no peers.</p>`
        : html`<div class="scroll">
            <table class="peers">
              <thead>
                <tr>
                  <th>Peer</th>
                  <th>URL</th>
                  <th>Reachable</th>
                  <th>Checked</th>
                </tr>
              </thead>
              <tbody>
                ${s.peers.map(
                  (p) =>
                    html`<tr data-peer=${p.id}>
                      <td>${p.id}</td>
                      <td><code>${p.url ?? '—'}</code></td>
                      <td>
                        ${p.reachable === null ? 'not asked yet' : p.reachable ? '✓ sealed by its identity' : html`<span class="error">${p.error}</span>`}
                      </td>
                      <td>${p.checkedAt ? when(p.checkedAt) : '—'}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }
    <h2>Orders</h2>
    <p>
      ${Object.entries(s.orders).map(([state, n]) => html`<a class=${`state ${state}`} href=${`#/orders?state=${state}`}>${state} ${n}</a> `)}
    </p>
    <h2>Webhooks</h2>
    ${
      s.webhooks.length === 0
        ? html`<p class="muted">None configured (docs/WEBHOOKS.md).</p>`
        : html`<div class="scroll">
            <table class="webhooks">
              <thead>
                <tr>
                  <th>Receiver</th>
                  <th>Events</th>
                  <th class="num">Queued</th>
                  <th class="num">Delivered</th>
                  <th class="num">Failed</th>
                  <th class="num">Dropped</th>
                  <th>Last</th>
                </tr>
              </thead>
              <tbody>
                ${s.webhooks.map(
                  (w) =>
                    html`<tr>
                      <td><code>${w.receiver}</code></td>
                      <td>${(w.events ?? []).join(', ')}</td>
                      <td class="num">${w.queued}</td>
                      <td class="num">${w.delivered}</td>
                      <td class="num">${w.failed}</td>
                      <td class="num">${w.dropped}</td>
                      <td>
                        ${w.last ? `${w.last.type} ${w.last.outcome} after ${w.last.attempts} attempt(s)${w.last.httpStatus ? `, HTTP ${w.last.httpStatus}` : ''}${w.last.error ? `: ${w.last.error}` : ''}` : '—'}
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }
  `
}
