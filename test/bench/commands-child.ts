/** Run by commands.test.ts: one command through the bench's helper, then nothing keeps it alive. */
import { runCommand, settleDisk, startCommands } from '../../bench/commands.js'

startCommands()
const run = await runCommand(process.execPath, ['-e', 'process.stdout.write("hi")'])
await settleDisk()
console.log(JSON.stringify({ stdout: run.stdout, timed: run.ms > 0 }))
