import { describe, expect, it } from 'vitest'
import { sourceAddressKey } from '../src/http/sourceAddress.js'

describe('sourceAddressKey', () => {
  it('counts IPv4 (also IPv4-mapped) by address and IPv6 by its /64, however it is written', () => {
    expect(['1.2.3.4', '::ffff:10.0.0.1', '::FFFF:10.0.0.1', undefined].map(sourceAddressKey)).toEqual([
      '1.2.3.4',
      '10.0.0.1',
      '10.0.0.1',
      'unknown',
    ])
    expect(
      [
        '2001:db8::1',
        '2001:0db8:0000:0000:ffff::2',
        '2001:DB8:0:0:1:2:3:4',
        'fe80::1%eth0',
        '::1',
        '64:ff9b::1.2.3.4',
      ].map(sourceAddressKey),
    ).toEqual([
      '2001:db8:0:0::/64',
      '2001:db8:0:0::/64',
      '2001:db8:0:0::/64',
      'fe80:0:0:0::/64',
      '0:0:0:0::/64',
      '64:ff9b:0:0::/64',
    ])
    expect(sourceAddressKey('2001:db8:1:2::9')).not.toBe(sourceAddressKey('2001:db8:1:3::9'))
  })
})
