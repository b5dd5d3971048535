import { memoryStore } from '../index.js'
import { storeContract } from './store-contract.js'

storeContract('memoryStore', async () => memoryStore())
