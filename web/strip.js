import { html } from './api.js'

export const PROOF_LABELS = {
  'compute-verified': 'compute verified',
  'telemetry-matched': 'telemetry matched',
  'heartbeat-only': 'heartbeat only',
  down: 'down',
  pending: 'not ended',
}

/** One cell per slot, coloured by what was proved of it; its title says the slot, the proof and the reason. */
export function SlotStrip({ slots }) {
  return html`
    <div class="strip" role="list" aria-label="slots">
      ${slots.map(
        (s) =>
          html`<span
            role="listitem"
            class=${`slot ${s.proof}`}
            data-slot=${s.slot}
            title=${`slot ${s.slot}: ${PROOF_LABELS[s.proof]}${s.up ? '' : ` (${s.reason})`}`}
          ></span>`,
      )}
    </div>
    <p class="legend">
      ${Object.entries(PROOF_LABELS).map(([k, v]) => html`<span><i class=${`slot ${k}`}></i>${v}</span>`)}
    </p>
  `
}
