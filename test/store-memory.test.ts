import { memoryStore } from '../index.js'
import { storeContract } from '../testing/index.js'

storeContract('memoryStore', async () => memoryStore())
