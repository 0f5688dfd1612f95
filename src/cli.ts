#!/usr/bin/env node
/** The `cairn` bin: runs the command line and exits with its code (src/cli/main.ts). */
import { main } from './cli/main.js'

process.exitCode = await main(process.argv.slice(2))
