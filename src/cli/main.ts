#!/usr/bin/env node
import { Command } from 'commander'
import { configValidate } from './configValidate.js'

const program = new Command()
  .name('qantara')
  .description('Cross-chain oracle and settlement relayer for a decentralised GPU-rental market')
  .version('0.1.0')

program
  .command('config')
  .description('work with relayer configuration files')
  .command('validate')
  .argument('<file>', 'YAML config file')
  .description('check a config file, its environment overrides and its keys; prints every problem')
  .action((file: string) => {
    process.exitCode = configValidate(file, process.env, (line) => console.log(line))
  })

await program.parseAsync(process.argv)
