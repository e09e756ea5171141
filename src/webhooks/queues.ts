/** A first-in first-out queue with O(1) push and shift (Array#shift copies the whole array). */
export class Fifo<T> {
  private items: (T | undefined)[] = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined
    // Compacted once the dead prefix is half the array: amortised O(1), and no unbounded growth.
    if (this.head >= 1_024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }
}

/** A binary min-heap on a numeric key: the retry due first, among up to maxQueue waiting. */
export class MinHeap<T> {
  private readonly items: T[] = []

  constructor(private readonly key: (item: T) => number) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const a = this.items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.key(a[parent]!) <= this.key(a[i]!)) break
      ;[a[parent], a[i]] = [a[i]!, a[parent]!]
      i = parent
    }
  }

  pop(): T | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length === 0 || last === undefined) return top
    a[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < a.length && this.key(a[l]!) < this.key(a[min]!)) min = l
      if (r < a.length && this.key(a[r]!) < this.key(a[min]!)) min = r
      if (min === i) return top
      ;[a[min], a[i]] = [a[i]!, a[min]!]
      i = min
    }
  }
}
