import { html, short, Status, units, usePoll, when } from './api.js'

function gpus(record) {
  return record.gpus.length
    ? record.gpus.map((g) => `${g.name}${g.memoryTotalMiB ? ` (${g.memoryTotalMiB} MiB)` : ''}`).join(', ')
    : 'none announced'
}

/** Providers' offers as their signed records give them (the relayer fetched each back from the provider before keeping it). */
export function ProvidersPage({ query }) {
  const chain = query.get('chain') ?? ''
  const { data, error } = usePoll(
    `/v1/providers?limit=200${chain ? `&chain=${encodeURIComponent(chain)}` : ''}`,
    15000,
  )
  return html`
    <h1>Providers</h1>
    <${Status} error=${error} loading=${!data && !error} />
    ${
      data &&
      html` <div class="scroll">
        <table class="providers">
          <thead>
            <tr>
              <th>Provider</th>
              <th>GPUs</th>
              <th>Prices (smallest units per slot and GPU)</th>
              <th>Record expires</th>
            </tr>
          </thead>
          <tbody>
            ${
              data.providers.length === 0 &&
              html`<tr>
                <td colspan="4" class="muted">No live provider records.</td>
              </tr>`
            }
            ${data.providers.map(
              ({ record: r }) =>
                html` <tr data-provider=${r.providerId}>
                  <td>
                    <a href=${`#/providers/${r.providerId}`}><code>${short(r.providerId)}</code></a>
                  </td>
                  <td>${gpus(r)}</td>
                  <td>
                    ${r.prices.map((p) => html`<div>${units(p.perSlot)} <small>${p.gpuClass} · ${p.chain} · ${short(p.token)} · ${p.slotLength} s</small></div>`)}
                  </td>
                  <td>${when(r.expiresAt)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`
    }
  `
}

/** One provider: what its record offers, its orders' uptime and what settled orders paid it, per chain. */
export function ProviderPage({ id }) {
  const { data, error } = usePoll(`/v1/providers/${id}`, 15000)
  if (!data)
    return html`<h1>Provider <code>${short(id)}</code></h1>
      <${Status} error=${error} loading=${!error} />`
  const r = data.provider.record
  const pct = data.uptime.totalSlots
    ? ((100 * data.uptime.upSlots) / data.uptime.totalSlots).toFixed(1)
    : undefined
  return html`
    <h1>Provider <code title=${r.providerId}>${short(r.providerId)}</code></h1>
    <${Status} error=${error} />
    <section class="cards">
      <div>
        <h3>Record</h3>
        <dl>
          <dt>Agent</dt>
          <dd><code>${r.url}</code></dd>
          <dt>GPUs</dt>
          <dd data-field="gpus">${gpus(r)}</dd>
          <dt>Record</dt>
          <dd>
            seq ${r.seq}, expires ${when(r.expiresAt)}; signed by the provider's key and fetched back from its
            agent
          </dd>
          <dt>Paid in BTC</dt>
          <dd>${r.btcScripts?.length ? `${r.btcScripts.length} script(s)` : 'no'}</dd>
        </dl>
      </div>
      <div>
        <h3>Uptime</h3>
        <p class="big" data-field="uptime">${pct === undefined ? '—' : `${pct}%`}</p>
        <p class="muted">
          ${data.uptime.upSlots} of ${data.uptime.totalSlots} slots up over its settled orders (${data.orders}
          orders looked at)
        </p>
        <p>
          ${Object.entries(data.byState).map(([s, n]) => html`<span class=${`state ${s}`}>${s} ${n}</span> `)}
        </p>
        <p><a href=${`#/orders?provider=${r.providerId}`}>Its orders</a></p>
      </div>
    </section>
    <h2>Prices</h2>
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Chain</th>
            <th>Token</th>
            <th>GPU class</th>
            <th class="num">Per slot and GPU</th>
            <th>Slot</th>
          </tr>
        </thead>
        <tbody>
          ${r.prices.map(
            (p) =>
              html`<tr>
                <td>${p.chain}</td>
                <td><code>${short(p.token)}</code></td>
                <td>${p.gpuClass}</td>
                <td class="num">${units(p.perSlot)}</td>
                <td>${p.slotLength} s</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <h2>Earnings</h2>
    ${
      data.earnings.length === 0
        ? html`<p class="muted">No settled orders yet.</p>`
        : html`<div class="scroll">
            <table class="earnings">
              <thead>
                <tr>
                  <th>Chain</th>
                  <th>Token</th>
                  <th class="num">Paid to provider</th>
                  <th>Orders</th>
                </tr>
              </thead>
              <tbody>
                ${data.earnings.map(
                  (e) =>
                    html`<tr data-earning=${e.chain}>
                      <td>${e.chain}</td>
                      <td><code>${short(e.token)}</code></td>
                      <td class="num">${units(e.toProvider)}</td>
                      <td>${e.orders}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }
  `
}
