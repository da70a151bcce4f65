//! Table declarations for diesel, matching `migrations/{sqlite,postgres}` column for column.

diesel::table! {
    users (username) {
        username -> Text,
        printed_name -> Text,
        email -> Text,
        password_hash -> Text,
        active -> Bool,
        created_at -> Text,
        must_change_password -> Bool,
    }
}

diesel::table! {
    user_roles (username, role) {
        username -> Text,
        role -> Text,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        username -> Text,
        csrf_token -> Text,
        created_at -> Text,
        expires_at -> Text,
        role -> Text,
    }
}

diesel::table! {
    api_tokens (token_hash) {
        token_hash -> Text,
        username -> Text,
        label -> Text,
        created_at -> Text,
        revoked_at -> Nullable<Text>,
        role -> Text,
        expires_at -> Text,
        last_used_at -> Nullable<Text>,
    }
}

diesel::table! {
    trials (id) {
        id -> Text,
        title -> Text,
        design -> Text,
        seed_hex -> Text,
        seed_commitment -> Text,
        current_version -> Integer,
        created_by -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    protocol_versions (trial_id, version) {
        trial_id -> Text,
        version -> Integer,
        hash -> Text,
        source -> Text,
        note -> Text,
        created_by -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    signatures (system_seq) {
        system_seq -> BigInt,
        trial_id -> Text,
        version -> Integer,
        protocol_hash -> Text,
        meaning -> Text,
        username -> Text,
        printed_name -> Text,
        signed_at -> Text,
    }
}

diesel::table! {
    audit_events (chain, seq) {
        chain -> Text,
        seq -> BigInt,
        kind -> Text,
        payload -> Text,
        actor -> Text,
        role -> Text,
        recorded_at -> Text,
        reason -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
        salt -> Nullable<Text>,
    }
}

diesel::table! {
    checkpoints (chain, seq, purpose) {
        chain -> Text,
        seq -> BigInt,
        purpose -> Text,
        head_hash -> Text,
        signed_at -> Text,
        public_key -> Text,
        signature -> Text,
        previous -> Nullable<BigInt>,
    }
}

diesel::table! {
    participants (trial_id, participant) {
        trial_id -> Text,
        participant -> Integer,
        subject_id -> Text,
        arm -> Text,
        seq -> BigInt,
        draw -> Double,
        probabilities -> Text,
        enrolled_by -> Text,
        enrolled_at -> Text,
    }
}

diesel::table! {
    outcomes (trial_id, seq) {
        trial_id -> Text,
        seq -> BigInt,
        participant -> Integer,
        value -> Text,
        corrects -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Text,
    }
}

diesel::table! {
    looks (trial_id, look) {
        trial_id -> Text,
        look -> Integer,
        seq -> BigInt,
        outcomes -> Integer,
        enrolled -> Integer,
        analysis -> Text,
    }
}

diesel::table! {
    arm_status (trial_id, arm) {
        trial_id -> Text,
        arm -> Text,
        status -> Text,
        changed_at -> BigInt,
    }
}

diesel::table! {
    trial_status (trial_id) {
        trial_id -> Text,
        status -> Text,
        changed_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (trial_id, key) {
        trial_id -> Text,
        key -> Text,
        response -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        trial_id -> Nullable<Text>,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Text,
        sent_at -> Nullable<Text>,
        attempts -> Integer,
        next_attempt_at -> Nullable<Text>,
        last_error -> Nullable<Text>,
        parked_at -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        username -> Text,
        failed_at -> Text,
    }
}

diesel::table! {
    trial_witnesses (trial_id, email) {
        trial_id -> Text,
        email -> Text,
        added_by -> Text,
        added_at -> Text,
    }
}

diesel::table! {
    witness_marks (chain) {
        chain -> Text,
        seq -> BigInt,
        witnessed_at -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    login_failures,
    users,
    user_roles,
    sessions,
    api_tokens,
    trials,
    protocol_versions,
    signatures,
    audit_events,
    checkpoints,
    participants,
    outcomes,
    looks,
    arm_status,
    trial_status,
    idempotency_keys,
    outbox,
    trial_witnesses,
    witness_marks,
);
