import type { Store } from '../../src/store/store.js'

/** The store of a process that dies right after it stores a pending submission, before anything is sent. */
export function dyingStore(store: Store): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'putSubmission') return Reflect.get(target, prop, receiver) as unknown
      return async (s: Parameters<Store['putSubmission']>[0]) => {
        await target.putSubmission(s)
        if (s.state === 'pending') throw new Error('killed')
      }
    },
  })
}
