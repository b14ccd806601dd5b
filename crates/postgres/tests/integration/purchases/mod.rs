//! One contract suite for purchase orders, run against every concurrency
//! strategy: the same test bodies, one module per strategy.

mod batching;
pub mod held_lock;
mod hybrid;
mod keyed;
mod keyed_batches;
mod queued;
mod races;
mod rules;

use recordshop_postgres::ConcurrencyStrategy;

/// Generates one module per strategy (`mod pessimistic`, `mod optimistic`,
/// `mod atomic`, `mod batched`, and `mod hybrid_closed`: the hybrid
/// strategy with a breaker that never opens, see `support::NEVER_OPENS`),
/// each with one test per listed body, so a failure names the strategy.
macro_rules! for_each_strategy {
    ($($body:ident::$test:ident),* $(,)?) => {
        strategy_suite!(pessimistic, Pessimistic; $($body::$test),*);
        strategy_suite!(optimistic, Optimistic; $($body::$test),*);
        strategy_suite!(atomic, Atomic; $($body::$test),*);
        strategy_suite!(batched, Batched; $($body::$test),*);
        strategy_suite!(hybrid_closed, Hybrid; $($body::$test),*);
    };
}

/// One strategy's module of [`for_each_strategy!`].
macro_rules! strategy_suite {
    ($module:ident, $strategy:ident; $($body:ident::$test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$body::$test(recordshop_postgres::ConcurrencyStrategy::$strategy).await;
                }
            )*
        }
    };
}

for_each_strategy!(
    races::concurrent_single_unit_purchases_sell_exactly_the_stock,
    races::purchases_restocks_and_cancels_keep_the_ledger,
    races::multi_unit_purchases_racing_for_the_last_units_never_oversell,
    rules::a_purchase_decrements_the_stock_and_snapshots_both_sides,
    rules::an_unknown_customer_cannot_buy,
    rules::an_inactive_customer_cannot_buy,
    rules::an_unknown_or_deleted_disc_cannot_be_bought,
    rules::more_than_the_stock_is_out_of_stock,
    rules::cancelling_twice_restocks_once,
    rules::cancelling_an_order_of_a_deleted_disc_restocks_it,
    rules::unknown_orders_are_not_found,
    rules::listing_filters_and_orders_newest_first,
    keyed::a_storm_of_one_key_places_one_order,
    keyed::the_same_key_with_another_purchase_is_refused,
    keyed::a_refused_keyed_purchase_records_nothing,
    keyed::an_expired_key_is_free_again,
    keyed::keys_of_different_owners_never_meet,
    keyed::a_replay_answers_the_order_as_it_was_placed,
    keyed::keys_sent_twice_racing_for_the_last_units_sell_once_each,
);

#[test]
fn every_strategy_has_a_suite() {
    // A new synchronous strategy needs its module in `for_each_strategy!`;
    // the queued one, which answers pending, and the hybrid's switch have
    // their own below.
    assert_eq!(ConcurrencyStrategy::SYNCHRONOUS.len(), 4);
    assert_eq!(ConcurrencyStrategy::ALL.len(), 6);
}

mod queued_strategy {
    macro_rules! queued_tests {
        ($($test:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::queued::$test().await;
                }
            )*
        };
    }

    queued_tests!(
        intake_records_a_pending_order_without_waiting_for_the_disc,
        workers_confirm_in_arrival_order_and_reject_the_rest,
        two_processes_keep_arrival_order_and_sell_exactly_the_stock,
        a_poison_order_is_dead_lettered_and_does_not_block_its_disc,
        a_decision_in_one_process_wakes_a_waiter_in_another,
    );
}

mod hybrid_strategy {
    macro_rules! hybrid_tests {
        ($($test:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::hybrid::$test().await;
                }
            )*
        };
    }

    hybrid_tests!(
        a_slow_purchase_opens_the_breaker_and_a_fast_probe_closes_it,
        a_purchase_queues_behind_its_discs_pending_orders,
        a_flapping_breaker_sells_exactly_the_stock,
    );
}
