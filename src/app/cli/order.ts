import type { Command } from 'commander'
import { getAddress, isAddress, toHex, zeroAddress, type Hex } from 'viem'
import { qantaraEscrowAbi } from '../../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { findOrder, orderIdFor } from '../../../adapters/evm/openOrder.js'
import { QantaraError } from '../../errors.js'
import { NATIVE_TOKEN } from '../../order.js'
import { formatAmount } from './amounts.js'
import { escrowOptions, escrowReader, escrowWriter, tokenUnit, type EscrowOptions } from './escrowChain.js'
import type { KeySourceOptions } from './options.js'
import { registerOrderOpen } from './orderOpen.js'
import { registerOrderStatus } from './orderStatus.js'
import type { CliOutput } from './output.js'

/** The `order` commands; returns the `order` command, where vault chains add theirs. */
export function registerOrderCommands(program: Command, io: CliOutput, signal: AbortSignal): Command {
  const order = program.command('order').description('open, inspect and reclaim orders as a renter')
  registerOrderOpen(order, io)

  escrowOptions(
    order
      .command('id')
      .description(
        'print the order id a renter and salt will get, for a solver to quote before the order is opened',
      ),
  )
    .requiredOption('--renter <address>', "the renter's address on the escrow chain")
    .option('--salt <hex>', '32-byte salt; a random one when absent')
    .action(async (o: EscrowOptions & { renter: string; salt?: string }) => {
      const { publicClient, escrow } = escrowReader(o)
      if (!isAddress(o.renter))
        throw new QantaraError('CONFIG_INVALID', `--renter ${o.renter} is not an address`)
      const salt = (o.salt ?? toHex(crypto.getRandomValues(new Uint8Array(32)))) as Hex
      if (!/^0x[0-9a-fA-F]{64}$/.test(salt))
        throw new QantaraError('CONFIG_INVALID', '--salt must be 32 bytes of hex')
      const id = {
        orderId: await orderIdFor(publicClient, escrow, getAddress(o.renter), salt),
        renter: getAddress(o.renter),
        salt,
      }
      // A document the solver's quote is made from: JSON either way.
      io.result(id, () => JSON.stringify(id))
    })

  registerOrderStatus(order, io, signal)

  escrowOptions(
    order
      .command('reclaim')
      .argument('<orderId>')
      .description('take back an order nobody settled after its deadline'),
    { key: true },
  )
    .option('--from-block <n>', 'block to search the order from', '0')
    .action(async (orderId: string, o: EscrowOptions & KeySourceOptions & { fromBlock: string }) => {
      const { publicClient, escrow, wallet } = escrowWriter(o)
      if (!/^\d{1,20}$/.test(o.fromBlock))
        throw new QantaraError('CONFIG_INVALID', '--from-block is a block number')
      const terms = await findOrder(publicClient, escrow, orderId as Hex, BigInt(o.fromBlock))
      if (!terms) throw new QantaraError('CONFIG_INVALID', `no OrderOpened for ${orderId} on this escrow`)
      const { request } = await publicClient.simulateContract({
        account: wallet.account,
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'reclaim',
        args: [orderId as Hex, terms],
      })
      const txHash = await wallet.writeContract(request)
      await publicClient.waitForTransactionReceipt({ hash: txHash })
      const unit = await tokenUnit(publicClient, terms.token)
      io.result(
        {
          orderId,
          txHash,
          token: terms.token === zeroAddress ? NATIVE_TOKEN : terms.token,
          amount: terms.amount,
          ...unit,
        },
        () =>
          `order ${orderId} reclaimed in ${txHash}: ${formatAmount(terms.amount, unit)} back to the renter`,
      )
    })
  return order
}
