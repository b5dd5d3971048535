// fastify-users/testing: what a third party needs to test its own parts against ours.
export { storeContract } from './store-contract.js'
