// A process serving an agent fleet (see agentFleet.ts): `node fleetProcess.js <options.json> <records.json>` writes the
// providers' signed records to records.json once every agent listens, and serves until SIGTERM.
import { readFileSync, writeFileSync } from 'node:fs'
import { startAgentFleet, type FleetOptions } from './agentFleet.js'

const [optionsFile, recordsFile] = process.argv.slice(2) as [string, string]
const fleet = await startAgentFleet(JSON.parse(readFileSync(optionsFile, 'utf8')) as FleetOptions)
writeFileSync(recordsFile, JSON.stringify(fleet.records))
// Once every agent has closed nothing is left to run, and the process ends.
process.once('SIGTERM', () => void fleet.close())
