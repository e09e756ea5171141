import { useMemo } from 'preact/hooks'
import { html, short, Status, txLink, units, usePoll, when } from './api.js'
import { TelemetryChart, telemetrySeries } from './charts.js'
import { SlotStrip } from './strip.js'

const PAGE = 200

/** One order: its terms, where it is, its settlement and transaction, each slot's proof, and its GPUs' telemetry. */
export function OrderPage({ id, query, explorers }) {
  const from = Math.max(0, Number(query.get('from') ?? 0) || 0)
  const { data: o, error } = usePoll(`/v1/orders/${id}?from=${from}&count=${PAGE}`)
  const telemetry = useMemo(() => (o ? telemetrySeries(o) : undefined), [o])
  if (!o)
    return html`<h1>Order <code>${short(id)}</code></h1>
      <${Status} error=${error} loading=${!error} />`
  const t = o.terms
  const down = (o.slots?.items ?? []).filter((s) => !s.up && s.proof !== 'pending')
  return html`
    <h1>
      Order <code title=${t.id}>${short(t.id)}</code> <span class=${`state ${o.state}`}>${o.state}</span>
    </h1>
    <${Status} error=${error} />
    <section class="cards">
      <div>
        <h3>Terms</h3>
        <dl>
          <dt>Chain</dt>
          <dd>${t.chain}</dd>
          <dt>Renter</dt>
          <dd><code>${t.renter}</code></dd>
          <dt>Provider</dt>
          <dd>
            <a href=${`#/providers/${t.providerId}`}><code>${short(t.providerId)}</code></a>
          </dd>
          <dt>GPUs</dt>
          <dd>${t.gpu.count} × ${t.gpu.class} (≥ ${t.gpu.minVramMiB} MiB)</dd>
          <dt>Amount</dt>
          <dd>
            ${units(t.amount)}
            <small>${t.token === 'native' ? 'native' : short(t.token)} smallest units</small>
          </dd>
          <dt>Schedule</dt>
          <dd>${t.slots} slots of ${t.slotLength} s, ${when(t.start)} to ${when(o.end)}</dd>
          ${
            t.btc &&
            html`<dt>Paid in BTC</dt>
              <dd>
                to script
                <code>${short(t.btc.script, 10)}</code
                >${o.btcTxid ? html`, payout <code>${short(o.btcTxid, 8)}</code> (${units(o.btcSats)} sats)` : ''}
              </dd>`
          }
        </dl>
      </div>
      <div>
        <h3>Settlement</h3>
        ${
          o.settlement
            ? html`<dl class="split">
                <dt>To provider</dt>
                <dd data-field="toProvider">${units(o.settlement.toProvider)}</dd>
                <dt>To renter</dt>
                <dd data-field="toRenter">${units(o.settlement.toRenter)}</dd>
                <dt>Fee</dt>
                <dd data-field="fee">${units(o.settlement.fee)}</dd>
                <dt>Slots up</dt>
                <dd data-field="upSlots">
                  ${o.settlement.upSlots} / ${o.settlement.totalSlots} (${o.reason})
                </dd>
                <dt>Transaction</dt>
                <dd>
                  ${txLink(explorers, t.chain, o.txHash) || html`<span class="muted">not yet posted</span>`}
                </dd>
              </dl>`
            : html`<p class="muted">Not settled yet: ${o.heartbeats} heartbeat records held so far.</p>`
        }
      </div>
    </section>
    <h2>Slots ${o.slots ? `${o.slots.from}–${o.slots.from + o.slots.count - 1} of ${t.slots}` : ''}</h2>
    ${o.slots ? html`<${SlotStrip} slots=${o.slots.items} />` : html`<p class="muted">No per-slot view of this order here.</p>`}
    ${
      o.slots &&
      t.slots > PAGE &&
      html`<p class="pager">
        ${from > 0 && html`<a href=${`#/orders/${t.id}?from=${Math.max(0, from - PAGE)}`}>Earlier slots</a>`}
        ${from + PAGE < t.slots && html`<a href=${`#/orders/${t.id}?from=${from + PAGE}`}>Later slots</a>`}
      </p>`
    }
    ${
      down.length > 0 &&
      html` <details open=${down.length <= 20}>
        <summary>${down.length} slot${down.length === 1 ? '' : 's'} down on this page, and why</summary>
        <ul class="down">
          ${down.slice(0, 200).map((s) => html`<li data-down-slot=${s.slot}>slot ${s.slot}: <b>${s.reason}</b> — ${s.proof === 'heartbeat-only' ? `${s.heartbeats} record(s), nothing proved` : 'no heartbeat'}</li>`)}
        </ul>
      </details>`
    }
    <h2>GPU telemetry</h2>
    ${
      o.telemetryCompacted
        ? html`<p class="muted">
            This order finished long enough ago that its heartbeats' telemetry was dropped (retention); the
            settlement's proof is kept.
          </p>`
        : telemetry.gpuCount === 0
          ? html`<p class="muted">No telemetry held for these slots.</p>`
          : html`<div class="charts">
              ${telemetry.charts.map((c) => html`<${TelemetryChart} key=${c.title} title=${c.title} unit=${c.unit} x=${telemetry.x} series=${c.series} />`)}
            </div>`
    }
  `
}
